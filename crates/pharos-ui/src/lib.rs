//! The server's web UI: the front end in `ui/` built from source by this crate's build script
//! (`npm ci`, `npm run build`) and embedded gzip-compressed in the binary, plus the routes that
//! serve it (page paths answer with `index.html`, `/assets/...` with long-lived cache headers).
//!
//! When the front end could not be built (no Node.js/npm at compile time) a page explaining how
//! to build it is embedded instead; [`is_built`] says which.
//!
//! Why a build script writing gzip blobs and an `include_bytes!` table rather than rust-embed:
//! rust-embed stores files uncompressed (its compression feature inflates them again at run
//! time, so they cannot be sent as stored), and brings its own derive, walkdir and hashing
//! crates. Measured on the current front end, the 4 files of `ui/dist` are 838,660 bytes as
//! built and 273,837 bytes gzip-compressed (33%): that is what the binary grows by, and the
//! stored bytes are sent as they are to every browser (all accept gzip). The only dependency
//! is `flate2`, already in the tree for scraping.

pub mod accept_encoding;
pub mod content_type;
pub mod embedded;
pub mod web_routes;

pub use embedded::{embedded_sizes, file, files, is_built, EmbeddedFile};
pub use web_routes::{root_redirect, router, UiOptions, PAGE_PATHS, ROUTE_PREFIX_PLACEHOLDER};
