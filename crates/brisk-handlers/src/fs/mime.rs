//! Content types from file name extensions: a built-in table of common
//! types.

/// Extension (lowercase) → content type, sorted by extension for a binary
/// search. Text types carry `charset=utf-8`.
const TABLE: &[(&str, &str)] = &[
    ("7z", "application/x-7z-compressed"),
    ("aac", "audio/aac"),
    ("apng", "image/apng"),
    ("avif", "image/avif"),
    ("bmp", "image/bmp"),
    ("bz2", "application/x-bzip2"),
    ("css", "text/css; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("eot", "application/vnd.ms-fontobject"),
    ("epub", "application/epub+zip"),
    ("flac", "audio/flac"),
    ("gif", "image/gif"),
    ("gz", "application/gzip"),
    ("htm", "text/html; charset=utf-8"),
    ("html", "text/html; charset=utf-8"),
    ("ico", "image/x-icon"),
    ("ics", "text/calendar; charset=utf-8"),
    ("jpeg", "image/jpeg"),
    ("jpg", "image/jpeg"),
    ("js", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("jsonld", "application/ld+json"),
    ("m4a", "audio/mp4"),
    ("map", "application/json"),
    ("md", "text/markdown; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("mp3", "audio/mpeg"),
    ("mp4", "video/mp4"),
    ("mpeg", "video/mpeg"),
    ("oga", "audio/ogg"),
    ("ogg", "audio/ogg"),
    ("ogv", "video/ogg"),
    ("otf", "font/otf"),
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("rss", "application/rss+xml"),
    ("rtf", "application/rtf"),
    ("svg", "image/svg+xml"),
    ("tar", "application/x-tar"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("toml", "application/toml"),
    ("ts", "video/mp2t"),
    ("ttf", "font/ttf"),
    ("txt", "text/plain; charset=utf-8"),
    ("wasm", "application/wasm"),
    ("wav", "audio/wav"),
    ("weba", "audio/webm"),
    ("webm", "video/webm"),
    ("webmanifest", "application/manifest+json"),
    ("webp", "image/webp"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("xhtml", "application/xhtml+xml"),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("xml", "application/xml"),
    ("yaml", "application/yaml"),
    ("yml", "application/yaml"),
    ("zip", "application/zip"),
    ("zst", "application/zstd"),
];

/// The content type for a file name, from its extension (ASCII
/// case-insensitive; a built-in table of about 60 common types, with
/// `charset=utf-8` for text), or `application/octet-stream`.
///
/// ```
/// use brisk_handlers::fs::content_type_for;
/// assert_eq!(content_type_for(b"index.HTML"), "text/html; charset=utf-8");
/// assert_eq!(content_type_for(b"app.wasm"), "application/wasm");
/// assert_eq!(content_type_for(b"README"), "application/octet-stream");
/// ```
pub fn content_type_for(name: &[u8]) -> &'static str {
    const DEFAULT: &str = "application/octet-stream";
    let Some(dot) = name.iter().rposition(|&b| b == b'.') else {
        return DEFAULT;
    };
    let ext = &name[dot + 1..];
    if ext.is_empty() || ext.len() > 16 {
        return DEFAULT;
    }
    let mut lower = [0u8; 16];
    for (d, s) in lower.iter_mut().zip(ext) {
        *d = s.to_ascii_lowercase();
    }
    let ext = &lower[..ext.len()];
    TABLE
        .binary_search_by(|(e, _)| e.as_bytes().cmp(ext))
        .map_or(DEFAULT, |i| TABLE[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_lowercase() {
        for w in TABLE.windows(2) {
            assert!(w[0].0 < w[1].0, "{} before {}", w[0].0, w[1].0);
        }
        for (e, t) in TABLE {
            assert_eq!(e.to_ascii_lowercase(), *e);
            assert!(brisk_http::is_valid_header_value(t.as_bytes()));
            if t.starts_with("text/") {
                assert!(t.ends_with("; charset=utf-8"), "{t}");
            }
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(content_type_for(b"a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type_for(b"a.tar.GZ"), "application/gzip");
        assert_eq!(content_type_for(b".txt"), "text/plain; charset=utf-8");
        assert_eq!(content_type_for(b"a."), "application/octet-stream");
        assert_eq!(
            content_type_for(b"a.verylongextension1"),
            "application/octet-stream"
        );
        assert_eq!(content_type_for(b"a.\xff"), "application/octet-stream");
    }
}
