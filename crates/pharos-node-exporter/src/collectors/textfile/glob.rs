//! Shell-style path patterns for `--collector.textfile.directory`, which node_exporter expands
//! with Go's `filepath.Glob`: `*`, `?` and `[...]` classes within one path segment.

use std::path::{Path, PathBuf};

/// Whether `s` contains a pattern metacharacter.
fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '\\'])
}

/// The existing paths matching `pattern`, in lexical order per directory level. A pattern
/// without metacharacters yields itself if it exists. Malformed patterns match nothing.
pub(super) fn expand(pattern: &str) -> Vec<PathBuf> {
    if !has_meta(pattern) {
        return if Path::new(pattern).symlink_metadata().is_ok() {
            vec![pattern.into()]
        } else {
            Vec::new()
        };
    }
    let (dir, name) = match pattern.rfind('/') {
        Some(0) => ("/", pattern.get(1..).unwrap_or("")),
        Some(i) => (
            pattern.get(..i).unwrap_or(""),
            pattern.get(i + 1..).unwrap_or(""),
        ),
        None => (".", pattern),
    };
    let dirs = if has_meta(dir) {
        expand(dir)
    } else {
        vec![PathBuf::from(dir)]
    };
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort_unstable();
        for entry in names.into_iter().filter(|n| matches(name, n)) {
            found.push(if pattern.contains('/') {
                dir.join(entry)
            } else {
                PathBuf::from(entry)
            });
        }
    }
    found
}

/// Matches one path segment against one pattern segment.
fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

/// Iterative wildcard matching with one backtrack point for the last `*`, so the time is
/// bounded by pattern length times name length whatever the input.
fn match_from(p: &[char], n: &[char]) -> bool {
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => class(p, pi, n.get(ni).copied()),
            Some('\\') => match (p.get(pi + 1), n.get(ni)) {
                (Some(a), Some(b)) if a == b => Some(2),
                _ => None,
            },
            Some(c) if n.get(ni) == Some(c) => Some(1),
            _ => None,
        };
        match step {
            Some(len) => {
                pi += len;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

/// Matches `c` against the class starting at `p[start]` (`[`); returns the class's length in
/// the pattern, or `None` if `c` is outside it or the class is malformed.
fn class(p: &[char], start: usize, c: Option<char>) -> Option<usize> {
    let c = c?;
    let mut i = start + 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = match p.get(i)? {
            ']' if !first => break,
            '\\' => {
                i += 1;
                *p.get(i)?
            }
            ch => *ch,
        };
        first = false;
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|ch| *ch != ']') {
            hi = match p.get(i + 1)? {
                '\\' => {
                    i += 1;
                    *p.get(i + 1)?
                }
                ch => *ch,
            };
            i += 2;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    (matched != negated).then_some(i + 1 - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_matching() {
        assert!(matches("*.prom", "a.prom"));
        assert!(!matches("*.prom", "a.txt"));
        assert!(matches("t?", "tf"));
        assert!(matches("t*", "t"));
        assert!(matches("[a-c]x", "bx"));
        assert!(!matches("[^a-c]x", "bx"));
        assert!(matches("[^a-c]x", "dx"));
        assert!(matches("a\\*", "a*"));
        assert!(!matches("[", "["));
        assert!(matches("*a*b*c", "xxaxxbxxc"));
        assert!(!matches("*a*b*c", &"ab".repeat(2000)));
    }

    #[test]
    fn expands_directories_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["t2", "t1", "other"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let base = dir.path().display().to_string();
        let found = expand(&format!("{base}/t*"));
        assert_eq!(found, vec![dir.path().join("t1"), dir.path().join("t2")]);
        assert_eq!(expand(&format!("{base}/none*")), Vec::<PathBuf>::new());
        assert_eq!(
            expand(&format!("{base}/other")),
            vec![PathBuf::from(format!("{base}/other"))]
        );
    }
}
