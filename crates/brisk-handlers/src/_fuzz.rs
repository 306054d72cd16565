//! Invariant checks shared by the cargo-fuzz target `multipart` and the
//! corpus replay test (`tests/it/corpus.rs`). Not a stable API.

use crate::multipart::{Event, MultipartLimits, MultipartParser, PartInfo};

/// A parsed part: its headers and content.
type Part = (PartInfo, Vec<u8>);

/// Feeds `data[1..]` as a multipart body with boundary `B` whole, in
/// pieces of `data[0] % 17 + 1` bytes and byte by byte, and checks: no
/// panic, the same parts or the same error each way, well-nested events,
/// limits respected, and that a body that parses re-encodes to the same
/// parts.
pub fn multipart(data: &[u8]) {
    let Some((&step, body)) = data.split_first() else {
        return;
    };
    let limits = MultipartLimits::default()
        .max_parts(8)
        .max_header_size(256)
        .max_field_size(512)
        .max_fields_size(1024)
        .max_file_size(2048);
    let whole = parse(body, body.len().max(1), limits);
    let pieces = parse(body, usize::from(step % 17) + 1, limits);
    assert_eq!(whole, pieces, "a split changed the outcome");
    assert_eq!(
        whole,
        parse(body, 1, limits),
        "byte by byte changed the outcome"
    );
    let Ok(parts) = whole else {
        return;
    };
    assert!(parts.len() <= 8);
    let mut fields = 0;
    for (info, content) in &parts {
        if info.is_file() {
            assert!(content.len() <= 2048);
        } else {
            assert!(content.len() <= 512);
            fields += content.len();
        }
    }
    assert!(fields <= 1024);
    let again = encode(&parts);
    // Default limits: quoting may make the headers longer.
    assert_eq!(
        parse(&again, again.len().max(1), MultipartLimits::default()),
        Ok(parts),
        "re-encoded body parsed differently"
    );
}

/// Parses `body` in pieces of `step` bytes: the parts, or the error's text.
fn parse(body: &[u8], step: usize, limits: MultipartLimits) -> Result<Vec<Part>, String> {
    let mut p = MultipartParser::new(b"B", limits).map_err(|e| e.to_string())?;
    let mut parts: Vec<Part> = Vec::new();
    let mut open = false;
    let mut on = |ev: Event<'_>| {
        match ev {
            Event::Part(info) => {
                assert!(!open, "a part started inside a part");
                open = true;
                parts.push((info.clone(), Vec::new()));
            }
            Event::Data(d) => {
                assert!(open && !d.is_empty(), "data outside a part, or empty");
                if let Some(last) = parts.last_mut() {
                    last.1.extend_from_slice(d);
                }
            }
            Event::PartEnd => {
                assert!(open, "a part ended outside a part");
                open = false;
            }
        }
        Ok(())
    };
    for piece in body.chunks(step) {
        p.push(piece, &mut on).map_err(|e| e.to_string())?;
    }
    p.finish().map_err(|e| e.to_string())?;
    assert!(!open, "finished inside a part");
    Ok(parts)
}

/// A canonical body for `parts` with boundary `B`.
fn encode(parts: &[Part]) -> Vec<u8> {
    fn quoted(out: &mut Vec<u8>, s: &str) {
        out.push(b'"');
        for &b in s.as_bytes() {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    }
    let mut out = Vec::new();
    for (info, content) in parts {
        out.extend_from_slice(b"--B\r\nContent-Disposition: form-data; name=");
        quoted(&mut out, info.name());
        if let Some(f) = info.filename() {
            out.extend_from_slice(b"; filename=");
            quoted(&mut out, f);
        }
        out.extend_from_slice(b"\r\n");
        if let Some(ct) = info.content_type() {
            out.extend_from_slice(b"Content-Type: ");
            out.extend_from_slice(ct.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(content);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--B--\r\n");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_valid_body_round_trips() {
        super::multipart(
            b"\x05--B\r\nContent-Disposition: form-data; name=\"a\\\"b\"; filename=\"c\\d\"\r\n\
              Content-Type: text/plain\r\n\r\nx\r\n--B--",
        );
        super::multipart(b"");
        super::multipart(b"\x00garbage");
    }
}
