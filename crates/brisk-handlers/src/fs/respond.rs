//! From a request path to a response: the cache, the walk, directories,
//! preconditions, ranges and precompressed siblings.

use std::fs::File;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use brisk_http::{
    ByteRange, Coding, Conditionals, Precondition, RangeOutcome, Validators,
    evaluate_preconditions, negotiate_encoding, parse_range, write_content_range,
    write_unsatisfied_range,
};
use brisk_server::RequestCtx;

use super::cache::{Entry, FileId, Rep};
use super::open::{OpenError, Opened, components, open_in, open_under};
use super::{Inner, listing, mime};

/// The precompressed siblings looked for, in the server's order of
/// preference (ties in `Accept-Encoding` go to the first).
pub(crate) const SIBLINGS: [(Coding, &[u8]); 3] = [
    (Coding::Br, b".br"),
    (Coding::Zstd, b".zst"),
    (Coding::Gzip, b".gz"),
];

/// Bytes of a multi-range body read per producer call.
const PIECE: usize = 16 * 1024;

pub(crate) fn serve(inner: &Inner, ctx: &mut RequestCtx<'_>, path: &[u8]) {
    if !(ctx.is_get() || ctx.is_head()) {
        ctx.error(
            "method not allowed: a file server answers GET and HEAD",
            405,
        );
        let _ = ctx.set_header(b"Allow", b"GET, HEAD");
        return;
    }
    let now_ms = inner.cache.ms(ctx.received_at());
    if let Some(e) = inner.cache.get(path) {
        let checked = e.checked_ms.load(Ordering::Relaxed);
        if (now_ms.saturating_sub(checked) as u128) < inner.revalidate.as_millis()
            && respond_entry(ctx, &e, inner.cache_control.as_deref(), true)
        {
            return;
        }
        // Stale (by age, or changed in place): open the path again.
    }
    let comps = match components(path, inner.hidden) {
        Ok(c) => c,
        Err(e) => return open_failed(inner, ctx, path, e),
    };
    match open_under(inner, &comps) {
        Ok(Opened::File(file, meta)) => {
            if path.ends_with(b"/") {
                // A file named as a directory.
                return open_failed(inner, ctx, path, OpenError::NotFound);
            }
            let name = comps.last().copied().unwrap_or_default();
            let entry = new_entry(inner, file, &meta, name, now_ms, |sib| {
                let mut c = comps.clone();
                let last: Vec<u8> = [name, sib].concat();
                if let Some(l) = c.last_mut() {
                    *l = &last;
                }
                match open_under(inner, &c) {
                    Ok(Opened::File(f, m)) => Some((f, m)),
                    _ => None,
                }
            });
            inner.cache.insert(path, entry.clone());
            respond_entry(ctx, &entry, inner.cache_control.as_deref(), false);
        }
        Ok(Opened::Dir(dir)) => {
            if !path.ends_with(b"/") {
                return redirect_to_dir(ctx);
            }
            for index in &inner.index_names {
                let name = index.as_bytes();
                match open_in(inner, dir.as_fd(), name) {
                    Ok(Opened::File(file, meta)) => {
                        let entry = new_entry(inner, file, &meta, name, now_ms, |sib| {
                            let n: Vec<u8> = [name, sib].concat();
                            match open_in(inner, dir.as_fd(), &n) {
                                Ok(Opened::File(f, m)) => Some((f, m)),
                                _ => None,
                            }
                        });
                        inner.cache.insert(path, entry.clone());
                        respond_entry(ctx, &entry, inner.cache_control.as_deref(), false);
                        return;
                    }
                    Ok(Opened::Dir(_)) | Err(OpenError::NotFound) => continue,
                    Err(e) => return open_failed(inner, ctx, path, e),
                }
            }
            inner.cache.remove(path);
            if !inner.listing {
                ctx.error("forbidden: directory listing is disabled", 403);
                return;
            }
            let mut html = Vec::new();
            if let Err(e) = listing::write_listing(inner, dir, ctx.path(), &mut html) {
                log::warn!(
                    "file server: listing {}: {e}",
                    String::from_utf8_lossy(path)
                );
                ctx.error("internal server error", 500);
                return;
            }
            ctx.set_content_type(b"text/html; charset=utf-8");
            ctx.set_body(&html);
        }
        Err(e) => open_failed(inner, ctx, path, e),
    }
}

/// Answers a path that could not be served.
fn open_failed(inner: &Inner, ctx: &mut RequestCtx<'_>, path: &[u8], e: OpenError) {
    inner.cache.remove(path);
    match e {
        OpenError::BadPath => ctx.error("bad request: invalid path", 400),
        OpenError::NotFound => ctx.error("not found", 404),
        OpenError::Forbidden => ctx.error("forbidden", 403),
        OpenError::Io(err) => {
            log::warn!(
                "file server: opening {}: {err}",
                String::from_utf8_lossy(path)
            );
            ctx.error("internal server error", 500);
        }
    }
}

/// 301 to the directory's path with a trailing slash (the query kept).
/// The location is built from the normalized path, percent-encoded, so
/// it always starts with a single `/`: never `//host` (an open redirect
/// from a request for `//host/dir`).
fn redirect_to_dir(ctx: &mut RequestCtx<'_>) {
    let mut loc = Vec::with_capacity(ctx.path().len() + 8);
    for seg in ctx.path().split(|&b| b == b'/').filter(|s| !s.is_empty()) {
        loc.push(b'/');
        listing::percent_encode(seg, &mut loc);
    }
    loc.push(b'/');
    let q = ctx.query_string();
    if !q.is_empty() {
        loc.push(b'?');
        loc.extend_from_slice(q);
    }
    ctx.reset_body();
    if ctx.redirect(&loc, 301).is_err() {
        ctx.error("bad request: invalid path", 400);
    }
}

/// An entry for `file`, with the siblings `open_sibling(ext)` finds
/// (when precompressed siblings are on): a sibling older than the file is
/// stale and left out.
fn new_entry(
    inner: &Inner,
    file: File,
    meta: &std::fs::Metadata,
    name: &[u8],
    now_ms: u64,
    open_sibling: impl Fn(&[u8]) -> Option<(File, std::fs::Metadata)>,
) -> Arc<Entry> {
    let rep = Rep::new(file, meta);
    let mut siblings = [None, None, None];
    if inner.precompressed {
        for (slot, (_, ext)) in siblings.iter_mut().zip(SIBLINGS) {
            if let Some((f, m)) = open_sibling(ext) {
                if FileId::of(&m).mtime_ns >= rep.id.mtime_ns {
                    *slot = Some(Rep::new(f, &m));
                }
            }
        }
    }
    Arc::new(Entry {
        rep,
        siblings,
        content_type: mime::content_type_for(name),
        checked_ms: AtomicU64::new(now_ms),
    })
}

/// The request headers a file response depends on, read in one pass.
#[derive(Default)]
struct Wanted<'a> {
    cond: Conditionals<'a>,
    range: Option<&'a [u8]>,
    accept_encoding: Option<&'a [u8]>,
}

fn read_headers<'a>(ctx: &RequestCtx<'a>) -> Wanted<'a> {
    let mut w = Wanted::default();
    for (name, value) in ctx.headers() {
        let slot = match name.len() {
            5 if name.eq_ignore_ascii_case(b"Range") => &mut w.range,
            8 if name.eq_ignore_ascii_case(b"If-Match") => &mut w.cond.if_match,
            8 if name.eq_ignore_ascii_case(b"If-Range") => &mut w.cond.if_range,
            13 if name.eq_ignore_ascii_case(b"If-None-Match") => &mut w.cond.if_none_match,
            15 if name.eq_ignore_ascii_case(b"Accept-Encoding") => &mut w.accept_encoding,
            17 if name.eq_ignore_ascii_case(b"If-Modified-Since") => &mut w.cond.if_modified_since,
            19 if name.eq_ignore_ascii_case(b"If-Unmodified-Since") => {
                &mut w.cond.if_unmodified_since
            }
            _ => continue,
        };
        // The first field of a name counts (repeats of these are invalid
        // or, for the lists, rare).
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    w
}

/// Answers with the entry's file (or a sibling), after the preconditions
/// and the range. With `verify` (a cached entry), the chosen file is
/// `fstat`ed first: if it changed in place since it was cached, nothing
/// is answered and `false` returned (the caller opens the path again).
pub(crate) fn respond_entry(
    ctx: &mut RequestCtx<'_>,
    e: &Entry,
    cache_control: Option<&str>,
    verify: bool,
) -> bool {
    let w = read_headers(ctx);
    let is_get = ctx.is_get();
    let has_siblings = e.siblings.iter().any(Option::is_some);
    // An encoded body is offered only without a Range (its ranges would
    // be of the encoded bytes, which clients do not expect).
    let (rep, coding) = if has_siblings && w.range.is_none() {
        let offered: Vec<Coding> = SIBLINGS
            .iter()
            .zip(&e.siblings)
            .filter(|(_, s)| s.is_some())
            .map(|((c, _), _)| *c)
            .collect();
        match negotiate_encoding(w.accept_encoding, &offered) {
            Some(c) if c != Coding::Identity => {
                let i = SIBLINGS.iter().position(|(sc, _)| *sc == c).unwrap_or(0);
                match &e.siblings[i] {
                    Some(s) => (s, Some(c)),
                    None => (&e.rep, None),
                }
            }
            // Identity, or nothing acceptable (RFC 9110 lets the server
            // send the unencoded body then).
            _ => (&e.rep, None),
        }
    } else {
        (&e.rep, None)
    };

    if verify && rep.file.metadata().map(|m| FileId::of(&m)).ok() != Some(rep.id) {
        return false;
    }
    let validators = Validators {
        etag: Some(&rep.etag),
        last_modified: Some(rep.id.mtime_secs()),
    };
    let pre = evaluate_preconditions(true, &w.cond, &validators);
    let set_common = |ctx: &mut RequestCtx<'_>| {
        let _ = ctx.set_header(b"Last-Modified", &rep.last_modified);
        let _ = ctx.set_header(b"ETag", &rep.etag);
        if let Some(cc) = cache_control {
            let _ = ctx.set_header(b"Cache-Control", cc.as_bytes());
        }
        if has_siblings {
            let _ = ctx.set_header(b"Vary", b"Accept-Encoding");
        }
    };
    match pre {
        Precondition::NotModified => {
            ctx.reset_body();
            ctx.set_status(304);
            set_common(ctx);
            return true;
        }
        Precondition::Failed => {
            ctx.error("precondition failed", 412);
            return true;
        }
        Precondition::Proceed { .. } => {}
    }
    let range_ok = matches!(pre, Precondition::Proceed { range: true });
    let len = rep.len();
    set_common(ctx);
    let _ = ctx.set_header(b"Accept-Ranges", b"bytes");
    ctx.set_content_type(e.content_type.as_bytes());
    if let Some(c) = coding {
        let _ = ctx.set_header(b"Content-Encoding", c.as_str().as_bytes());
    }
    if let (true, true, Some(value)) = (is_get, range_ok, w.range) {
        match parse_range(value, len) {
            RangeOutcome::Partial(ranges) if ranges.len() == 1 => {
                let r = ranges.as_slice()[0];
                let mut cr = Vec::with_capacity(48);
                write_content_range(&mut cr, r, len);
                ctx.set_status(206);
                let _ = ctx.set_header(b"Content-Range", &cr);
                ctx.set_body_file(rep.file.clone(), r.start, r.len());
                return true;
            }
            RangeOutcome::Partial(ranges) => {
                multipart(ctx, rep, e.content_type, ranges.as_slice());
                return true;
            }
            RangeOutcome::Unsatisfiable => {
                let mut cr = Vec::with_capacity(32);
                write_unsatisfied_range(&mut cr, len);
                ctx.error("range not satisfiable", 416);
                let _ = ctx.set_header(b"Content-Range", &cr);
                return true;
            }
            RangeOutcome::Ignore | RangeOutcome::TooMany => {}
        }
    }
    ctx.set_status(200);
    ctx.set_body_file(rep.file.clone(), 0, len);
    true
}

/// 206 `multipart/byteranges`: a streamed body that reads each range
/// with `pread`, in pieces, as the connection takes them.
fn multipart(ctx: &mut RequestCtx<'_>, rep: &Rep, content_type: &str, ranges: &[ByteRange]) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed = rep.etag.iter().fold(n ^ 0x9e37_79b9_7f4a_7c15, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let boundary = format!("brisk{seed:016x}");
    let len = rep.len();
    let heads: Vec<Vec<u8>> = ranges
        .iter()
        .map(|r| {
            let mut h =
                format!("\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: ")
                    .into_bytes();
            write_content_range(&mut h, *r, len);
            h.extend_from_slice(b"\r\n\r\n");
            h
        })
        .collect();
    let tail = format!("\r\n--{boundary}--\r\n").into_bytes();
    ctx.set_status(206);
    ctx.set_content_type(format!("multipart/byteranges; boundary={boundary}").as_bytes());
    let file = rep.file.clone();
    let ranges = ranges.to_vec();
    let mut part = 0usize;
    let mut at: Option<u64> = None; // Some(offset): inside part's data
    let mut buf = Vec::new();
    ctx.set_body_stream(move |w| {
        use std::os::unix::fs::FileExt;
        loop {
            let Some(r) = ranges.get(part) else {
                w.write(&tail);
                return false;
            };
            let Some(off) = at else {
                w.write(&heads[part]);
                at = Some(r.start);
                continue;
            };
            if off == r.end {
                part += 1;
                at = None;
                continue;
            }
            let take = usize::try_from(r.end - off).unwrap_or(PIECE).min(PIECE);
            buf.resize(take, 0);
            match file.read_at(&mut buf, off) {
                Ok(0) | Err(_) => {
                    log::warn!("file server: a file shrank or failed while sending ranges of it");
                    return false;
                }
                Ok(got) => {
                    w.write(&buf[..got]);
                    at = Some(off + got as u64);
                    return true;
                }
            }
        }
    });
}

/// [`super::serve_file`]: one file, no cache.
pub(crate) fn serve_one(ctx: &mut RequestCtx<'_>, path: &std::path::Path) {
    use std::os::unix::fs::OpenOptionsExt;
    if !(ctx.is_get() || ctx.is_head()) {
        ctx.error("method not allowed: a file is served to GET and HEAD", 405);
        let _ = ctx.set_header(b"Allow", b"GET, HEAD");
        return;
    }
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .and_then(|f| f.metadata().map(|m| (f, m)));
    let (file, meta) = match opened {
        Ok((f, m)) if m.is_file() => (f, m),
        Ok(_) => return ctx.error("not found", 404),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return ctx.error("forbidden", 403);
        }
        Err(_) => return ctx.error("not found", 404),
    };
    use std::os::unix::ffi::OsStrExt;
    let name = path.file_name().map_or(&b""[..], |n| n.as_bytes());
    let entry = Entry {
        rep: Rep::new(file, &meta),
        siblings: [None, None, None],
        content_type: mime::content_type_for(name),
        checked_ms: AtomicU64::new(0),
    };
    respond_entry(ctx, &entry, None, false);
}
