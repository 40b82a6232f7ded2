//! HTTP basic auth against bcrypt hashes, as configured in `basic_auth_users`.
//!
//! bcrypt is deliberately slow (tens of milliseconds per check), and Prometheus sends the same
//! credentials on every scrape, so outcomes are cached under a SHA-256 of user, hash and
//! password; the plain password is never stored.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Mutex;

use base64::Engine as _;

/// A hash that no password matches, compared against for unknown users so that a wrong user
/// name takes as long as a wrong password and cannot be told apart by timing.
const DECOY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// Bound on cached outcomes; the cache is emptied when full, which only costs some bcrypt work.
const CACHE_LIMIT: usize = 1024;

/// The configured users and a cache of recent verdicts.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    cache: Mutex<HashMap<[u8; 32], bool>>,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Credentials taken from an `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Parses `Basic <base64(user:password)>`; `None` for anything else.
    pub fn from_header(value: &str) -> Option<Credentials> {
        let (scheme, encoded) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':')?;
        Some(Credentials {
            user: user.to_string(),
            password: password.to_string(),
        })
    }
}

impl BasicAuth {
    /// Checks every hash is a well-formed bcrypt hash; the error names the user.
    pub fn new(users: BTreeMap<String, String>) -> Result<BasicAuth, String> {
        for (user, hash) in &users {
            if bcrypt::HashParts::from_str(hash).is_err() {
                return Err(format!(
                    "basic_auth_users: the hash for user {user:?} is not a valid bcrypt hash"
                ));
            }
        }
        Ok(BasicAuth {
            users,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The cached verdict for these credentials, if any; cheap enough to call on the async path.
    pub fn cached(&self, creds: &Credentials) -> Option<bool> {
        let key = self.cache_key(creds);
        self.cache.lock().ok().and_then(|c| c.get(&key).copied())
    }

    /// Whether the credentials are valid. May take tens of milliseconds: call it off the async
    /// executor (e.g. in `spawn_blocking`).
    pub fn verify(&self, creds: &Credentials) -> bool {
        let key = self.cache_key(creds);
        if let Some(v) = self.cache.lock().ok().and_then(|c| c.get(&key).copied()) {
            return v;
        }
        let (known, hash) = match self.users.get(&creds.user) {
            Some(h) => (true, h.as_str()),
            None => (false, DECOY_HASH),
        };
        let ok = known && bcrypt::verify(&creds.password, hash).unwrap_or(false);
        if !known {
            // Same work as for a real user; the result is ignored.
            let _ = bcrypt::verify(&creds.password, hash);
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key, ok);
        }
        ok
    }

    fn cache_key(&self, creds: &Credentials) -> [u8; 32] {
        let hash = self
            .users
            .get(&creds.user)
            .map(String::as_str)
            .unwrap_or(DECOY_HASH);
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        for part in [
            creds.user.as_bytes(),
            hash.as_bytes(),
            creds.password.as_bytes(),
        ] {
            ctx.update(&(part.len() as u64).to_le_bytes());
            ctx.update(part);
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header() {
        let c = Credentials::from_header("Basic YWxpY2U6czNjcjN0OndpdGg6Y29sb25z").unwrap();
        assert_eq!(c.user, "alice");
        assert_eq!(c.password, "s3cr3t:with:colons");
        assert!(Credentials::from_header("Bearer abc").is_none());
        assert!(Credentials::from_header("Basic !!!").is_none());
        assert!(Credentials::from_header("").is_none());
    }

    #[test]
    fn verifies_and_caches() {
        // Cost 4 keeps the test fast; real configs use 10 or more.
        let hash = bcrypt::hash_with_salt("pw", 4, [7u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        let auth = BasicAuth::new(BTreeMap::from([("alice".to_string(), hash)])).unwrap();
        let good = Credentials {
            user: "alice".into(),
            password: "pw".into(),
        };
        let bad = Credentials {
            user: "alice".into(),
            password: "nope".into(),
        };
        let stranger = Credentials {
            user: "bob".into(),
            password: "pw".into(),
        };
        assert_eq!(auth.cached(&good), None);
        assert!(auth.verify(&good));
        assert_eq!(auth.cached(&good), Some(true));
        assert!(!auth.verify(&bad));
        assert!(!auth.verify(&stranger));
    }
}
