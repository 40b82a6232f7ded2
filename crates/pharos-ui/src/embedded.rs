//! The files of `ui/dist` as compiled into the binary.

use std::io::Read as _;

/// One file of the built front end.
#[derive(Debug)]
pub struct EmbeddedFile {
    /// Path relative to `ui/dist`, with '/' separators (e.g. `assets/index-3f2a.js`).
    pub path: &'static str,
    /// The bytes as embedded: gzip-compressed when `gzipped`, else the file itself.
    pub data: &'static [u8],
    /// Whether `data` is gzip (files that do not shrink, such as woff2, are stored as they are).
    pub gzipped: bool,
    /// Size of the file itself, uncompressed.
    pub raw_len: usize,
}

impl EmbeddedFile {
    /// The file's uncompressed bytes.
    pub fn decompressed(&self) -> std::io::Result<Vec<u8>> {
        if !self.gzipped {
            return Ok(self.data.to_vec());
        }
        let mut out = Vec::with_capacity(self.raw_len);
        flate2::read::GzDecoder::new(self.data).read_to_end(&mut out)?;
        Ok(out)
    }
}

include!(concat!(env!("OUT_DIR"), "/embedded_ui.rs"));

/// Whether the real front end is embedded (false: only the "UI not built" page is).
pub fn is_built() -> bool {
    BUILT
}

/// Every embedded file, sorted by path.
pub fn files() -> &'static [EmbeddedFile] {
    FILES
}

/// The embedded file at `path` (relative to `ui/dist`, no leading '/').
pub fn file(path: &str) -> Option<&'static EmbeddedFile> {
    FILES
        .binary_search_by(|f| f.path.cmp(path))
        .ok()
        .and_then(|i| FILES.get(i))
}

/// Total bytes of the built files, and the bytes they take in the binary.
pub fn embedded_sizes() -> (usize, usize) {
    SIZES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_html_is_always_embedded_and_decompresses() {
        let index = file("index.html").expect("index.html embedded");
        let text = String::from_utf8(index.decompressed().expect("gunzip")).expect("utf-8");
        assert_eq!(text.len(), index.raw_len);
        assert!(text.contains("<html"), "{text}");
    }

    #[test]
    fn lookup_finds_every_file_and_nothing_else() {
        for f in files() {
            assert!(std::ptr::eq(file(f.path).expect("found"), f));
        }
        assert!(file("no/such/file.js").is_none());
        assert!(file("").is_none());
    }
}
