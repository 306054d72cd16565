//! The HTML listing of a directory: names sorted bytewise, HTML-escaped,
//! links percent-encoded.

use std::os::fd::OwnedFd;

use nix::dir::{Dir, Type};
use nix::fcntl::AtFlags;
use nix::sys::stat::{SFlag, fstatat};

use super::{Inner, Symlinks};

/// Most entries listed; a larger directory's listing says it was cut.
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// Writes the listing of `dir` (the directory at the request path `path`,
/// which ends with `/`) into `out`.
pub(crate) fn write_listing(
    inner: &Inner,
    dir: OwnedFd,
    path: &[u8],
    out: &mut Vec<u8>,
) -> nix::Result<()> {
    // A second descriptor of the directory for `fstatat`: `Dir` owns the
    // first while it is iterated.
    let stat_fd = dir
        .try_clone()
        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc_eio())))?;
    let mut d = Dir::from_fd(dir)?;
    let mut names: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut cut = false;
    for e in d.iter() {
        let Ok(e) = e else { continue };
        let name = e.file_name().to_bytes();
        if name == b"." || name == b".." || (!inner.hidden && name.first() == Some(&b'.')) {
            continue;
        }
        let is_dir = match e.file_type() {
            Some(Type::Directory) => true,
            Some(Type::File) => false,
            Some(Type::Symlink) if inner.symlinks == Symlinks::Refuse => continue,
            _ => {
                // Unknown, or a link to follow: ask the file system.
                match fstatat(&stat_fd, name, AtFlags::empty()) {
                    Ok(st) => {
                        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
                        if kind == SFlag::S_IFDIR {
                            true
                        } else if kind == SFlag::S_IFREG {
                            false
                        } else {
                            continue;
                        }
                    }
                    Err(_) => continue,
                }
            }
        };
        if names.len() == MAX_ENTRIES {
            cut = true;
            break;
        }
        names.push((name.to_vec(), is_dir));
    }
    names.sort();
    let title = html_escape(&String::from_utf8_lossy(path));
    out.extend_from_slice(b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
    out.extend_from_slice(title.as_bytes());
    out.extend_from_slice(b"</title></head>\n<body><h1>Index of ");
    out.extend_from_slice(title.as_bytes());
    out.extend_from_slice(b"</h1>\n<ul>\n");
    if path != b"/" {
        out.extend_from_slice(b"<li><a href=\"../\">../</a></li>\n");
    }
    for (name, is_dir) in &names {
        let slash: &[u8] = if *is_dir { b"/" } else { b"" };
        out.extend_from_slice(b"<li><a href=\"./");
        percent_encode(name, out);
        out.extend_from_slice(slash);
        out.extend_from_slice(b"\">");
        out.extend_from_slice(html_escape(&String::from_utf8_lossy(name)).as_bytes());
        out.extend_from_slice(slash);
        out.extend_from_slice(b"</a></li>\n");
    }
    out.extend_from_slice(b"</ul>\n");
    if cut {
        out.extend_from_slice(b"<p>(only the first 10000 entries are listed)</p>\n");
    }
    out.extend_from_slice(b"</body></html>\n");
    Ok(())
}

/// `EIO`, for a `dup` that failed without an OS error.
fn libc_eio() -> i32 {
    nix::errno::Errno::EIO as i32
}

/// `&`, `<`, `>`, `"` and `'` as character references.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Every byte but the unreserved ones (`A-Z a-z 0-9 - . _ ~`) as `%XX`:
/// a name can become neither a scheme (`:`), a query (`?`), a fragment
/// (`#`) nor leave the attribute (`"`).
pub(crate) fn percent_encode(name: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in name {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let mut v = Vec::new();
        percent_encode(b"a b/c?d#e:\"\xff~", &mut v);
        assert_eq!(v, b"a%20b%2Fc%3Fd%23e%3A%22%FF~");
    }
}
