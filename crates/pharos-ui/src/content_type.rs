//! `Content-Type` of an embedded file, from its extension.

/// The media type served for `path`; unknown extensions are `application/octet-stream`.
pub fn for_path(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::for_path;

    #[test]
    fn known_and_unknown_extensions() {
        assert_eq!(for_path("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            for_path("assets/index-AbC1.JS"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(for_path("assets/x.css"), "text/css; charset=utf-8");
        assert_eq!(for_path("favicon.svg"), "image/svg+xml");
        assert_eq!(for_path("assets/font.woff2"), "font/woff2");
        assert_eq!(for_path("LICENSE"), "application/octet-stream");
        assert_eq!(for_path("a.unknown"), "application/octet-stream");
    }
}
