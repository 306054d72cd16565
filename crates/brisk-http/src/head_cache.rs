//! [`HeadCache`]: [`write_response_head`] with the start of the last head
//! (and, when it repeats, the whole head and a `'static` body) kept for
//! the next response.

use brisk_buf::ByteBuffer;

use crate::date::HTTP_DATE_LEN;
#[cfg(doc)]
use crate::response::write_response_head;
use crate::response::{
    ResponseBody, ResponseHeader, USER_CONTENT_TYPE, USER_DATE, USER_SERVER, WriteOptions,
    write_prefix, write_rest,
};

/// [`write_response_head`] for a server that writes many responses on one
/// thread: it keeps the start of the last `200 OK` head it wrote (status
/// line, `Server`, `Date`, default `Content-Type`) and copies it in one
/// piece while the second, the options and the header's overrides are the
/// same. The output is byte for byte what [`write_response_head`] writes.
///
/// Keep one per thread (it is not shared); it allocates only when the
/// cached start first grows.
///
/// ```
/// use brisk_buf::ByteBuffer;
/// use brisk_http::{HeadCache, ResponseBody, ResponseHeader, WriteOptions, write_response_head};
///
/// let mut cache = HeadCache::new();
/// let opts = WriteOptions { server_name: Some(b"brisk"), ..WriteOptions::default() };
/// let h = ResponseHeader::new();
/// let (mut a, mut b) = (ByteBuffer::new(), ByteBuffer::new());
/// cache.write(&h, ResponseBody::Length(2), &opts, &mut a);
/// write_response_head(&h, ResponseBody::Length(2), &opts, &mut b);
/// # if a != b { // the second may have turned between the two calls
/// #     a.reset(); b.reset();
/// #     cache.write(&h, ResponseBody::Length(2), &opts, &mut a);
/// #     write_response_head(&h, ResponseBody::Length(2), &opts, &mut b);
/// # }
/// assert_eq!(a, b);
/// ```
#[derive(Debug, Default)]
pub struct HeadCache {
    /// The cached start; empty when nothing is cached.
    prefix: Vec<u8>,
    /// What it was made from: the second (when it holds a Date), the
    /// server name written (empty for none), and the `include` bits.
    secs: u64,
    server: Vec<u8>,
    include: u8,
    /// The whole head of a response with no fields of its own and a
    /// `Content-Length`: `prefix` then the framing lines. Valid for
    /// `full_key` while `prefix` is.
    full: Vec<u8>,
    full_key: FullKey,
    /// The key of the last such response that missed: `full` is filled only
    /// when a key repeats, so responses of varying length cost no copy.
    last_miss: FullKey,
    /// `full` followed by the `'static` body `whole_body`: the whole
    /// response of a handler that answers with the same static body every
    /// time. Valid only while `whole_body` is set, which every change of
    /// `full` clears.
    whole: Vec<u8>,
    whole_body: Option<&'static [u8]>,
    /// The static body of the last response written through
    /// [`write_static_at`](HeadCache::write_static_at): `whole` is filled
    /// only when a body repeats.
    last_static: Option<&'static [u8]>,
}

/// What the framing lines after the cached prefix depend on, for a `200 OK`
/// with no user fields: the `Content-Length` and whether the connection
/// closes (`Connection: close`) or is HTTP/1.0 (`Connection: keep-alive`).
/// Packed in one word (length, then the two flags above it) so a key
/// compares in one go; `NO_KEY` (all ones) is no key's value and matches
/// nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FullKey(u128);

impl FullKey {
    #[inline(always)]
    fn new(len: u64, close: bool, http10: bool) -> FullKey {
        FullKey(u128::from(len) | u128::from(close) << 64 | u128::from(http10) << 65)
    }

    /// The key of a response of `h` with a `Content-Length` of `len` under
    /// `opts`.
    #[inline(always)]
    fn of(len: u64, h: &ResponseHeader, opts: &WriteOptions<'_>) -> FullKey {
        FullKey::new(len, !opts.keep_alive || h.connection_close, opts.http10)
    }

    /// Whether the head says `Connection: close`.
    #[inline(always)]
    fn closes(self) -> bool {
        self.0 >> 64 & 1 == 1
    }
}

const NO_KEY: FullKey = FullKey(u128::MAX);

impl Default for FullKey {
    fn default() -> FullKey {
        NO_KEY
    }
}

impl HeadCache {
    /// An empty cache.
    pub const fn new() -> HeadCache {
        HeadCache {
            prefix: Vec::new(),
            secs: 0,
            server: Vec::new(),
            include: 0,
            full: Vec::new(),
            full_key: NO_KEY,
            last_miss: NO_KEY,
            whole: Vec::new(),
            whole_body: None,
            last_static: None,
        }
    }

    /// Appends the head of a response to `out`, exactly as
    /// [`write_response_head`] does, and returns whether the connection may
    /// stay open.
    pub fn write(
        &mut self,
        h: &ResponseHeader,
        body: ResponseBody,
        opts: &WriteOptions<'_>,
        out: &mut ByteBuffer,
    ) -> bool {
        self.write_at(crate::date::unix_secs(), h, body, opts, out)
    }

    /// [`write`](HeadCache::write) with the current time given by the
    /// caller, in seconds since the Unix epoch, for a server that reads the
    /// clock once per batch of responses rather than once per response.
    /// The `Date` header is formatted from `unix_secs`.
    #[inline(always)]
    pub fn write_at(
        &mut self,
        unix_secs: u64,
        h: &ResponseHeader,
        body: ResponseBody,
        opts: &WriteOptions<'_>,
        out: &mut ByteBuffer,
    ) -> bool {
        // The usual response first: a `200 OK` with nothing of its own whose
        // framing repeats the cached whole head, under the same options and
        // within the same second. One copy, no per-line work.
        if let ResponseBody::Length(len) = body {
            let key = FullKey::of(len, h, opts);
            if self.full_hit(key, unix_secs, h, opts) {
                out.extend_from_slice(&self.full);
                return !key.closes();
            }
        }
        self.write_miss(unix_secs, h, body, opts, out)
    }

    /// Appends a whole response whose body is `'static`: exactly what
    /// [`write_at`](Self::write_at) with `ResponseBody::Length(body.len())`
    /// followed by `body` appends, and the same return value. When the same
    /// response repeats (the whole head is cached and `body` is the same
    /// slice as last time, by address and length, so its bytes are the same
    /// too), head and body go out in one copy.
    ///
    /// Call it only when the body belongs in the response (not for a HEAD
    /// request, nor for a 1xx, 204 or 304 status).
    ///
    /// ```
    /// use brisk_buf::ByteBuffer;
    /// use brisk_http::{HeadCache, ResponseBody, ResponseHeader, WriteOptions};
    /// let (h, opts) = (ResponseHeader::new(), WriteOptions::default());
    /// let mut cache = HeadCache::new();
    /// let mut a = ByteBuffer::new();
    /// for _ in 0..3 {
    ///     a.reset();
    ///     cache.write_static_at(1_700_000_000, &h, b"hello", &opts, &mut a);
    /// }
    /// let mut b = ByteBuffer::new();
    /// HeadCache::new().write_at(1_700_000_000, &h, ResponseBody::Length(5), &opts, &mut b);
    /// b.extend_from_slice(b"hello");
    /// assert_eq!(a.as_slice(), b.as_slice());
    /// ```
    #[inline(always)]
    pub fn write_static_at(
        &mut self,
        unix_secs: u64,
        h: &ResponseHeader,
        body: &'static [u8],
        opts: &WriteOptions<'_>,
        out: &mut ByteBuffer,
    ) -> bool {
        let key = FullKey::of(body.len() as u64, h, opts);
        if self.whole_body.is_some_and(|b| core::ptr::eq(b, body))
            && self.full_hit(key, unix_secs, h, opts)
        {
            out.extend_from_slice(&self.whole);
            return !key.closes();
        }
        self.write_static_miss(unix_secs, h, body, opts, out)
    }

    /// [`write_static_at`](Self::write_static_at) when the whole response
    /// is not cached: the head, then the body, and `whole` is filled when
    /// the whole head was cached and the body repeats.
    #[inline(never)]
    fn write_static_miss(
        &mut self,
        unix_secs: u64,
        h: &ResponseHeader,
        body: &'static [u8],
        opts: &WriteOptions<'_>,
        out: &mut ByteBuffer,
    ) -> bool {
        let len = body.len() as u64;
        let start = out.len();
        let keep = self.write_at(unix_secs, h, ResponseBody::Length(len), opts, out);
        out.extend_from_slice(body);
        let key = FullKey::of(len, h, opts);
        let repeats = self.last_static.is_some_and(|b| core::ptr::eq(b, body));
        if repeats && self.full_hit(key, unix_secs, h, opts) {
            self.whole.clear();
            self.whole.extend_from_slice(&out[start..]);
            self.whole_body = Some(body);
        }
        self.last_static = Some(body);
        keep
    }

    /// Whether `full` is the head of `h` with framing `key` under `opts`
    /// at `unix_secs`: a `200 OK` with nothing of its own, the same
    /// defaults, second and server name as the cached one.
    #[inline(always)]
    fn full_hit(
        &self,
        key: FullKey,
        unix_secs: u64,
        h: &ResponseHeader,
        opts: &WriteOptions<'_>,
    ) -> bool {
        key == self.full_key
            && h.status == 200
            && !h.has_reason
            && h.user == 0
            && h.fields.is_empty()
            && self.include & !USER_SERVER == default_bits(opts) & !USER_SERVER
            && self.secs == if opts.date { unix_secs } else { 0 }
            // Equal names are both empty or both not, so `include`'s server
            // bit (set for a non-empty name) matches too.
            && same_bytes(&self.server, opts.server_name.unwrap_or_default())
    }

    /// [`write_at`](Self::write_at) when the whole head is not cached.
    #[inline(never)]
    fn write_miss(
        &mut self,
        unix_secs: u64,
        h: &ResponseHeader,
        body: ResponseBody,
        opts: &WriteOptions<'_>,
        out: &mut ByteBuffer,
    ) -> bool {
        if h.status != 200 || h.has_reason {
            out.reserve(128 + h.data.len() + h.fields.len() * 4 + h.reason.len());
            write_prefix(h, opts, &crate::date::http_date_at(unix_secs), out);
            return write_rest(h, body, opts, out);
        }
        // Which defaults the start holds, as `USER_*` bits.
        let server = match opts.server_name {
            Some(n) if h.user & USER_SERVER == 0 => n,
            _ => &[],
        };
        let mut include = 0;
        if !server.is_empty() {
            include |= USER_SERVER;
        }
        if opts.date && h.user & USER_DATE == 0 {
            include |= USER_DATE;
        }
        if opts.default_content_type && h.user & USER_CONTENT_TYPE == 0 {
            include |= USER_CONTENT_TYPE;
        }
        let secs = if include & USER_DATE != 0 {
            unix_secs
        } else {
            0
        };
        if self.prefix.is_empty()
            || self.include != include
            || self.secs != secs
            || !same_bytes(&self.server, server)
        {
            self.refill(h, opts, include, secs, server);
        }
        // The whole head, when this response's framing lines repeat the
        // last ones (the usual case: the same handler answering again).
        let key = match body {
            ResponseBody::Length(len) if h.fields.is_empty() => FullKey::of(len, h, opts),
            _ => NO_KEY,
        };
        if key != NO_KEY && key == self.full_key {
            out.extend_from_slice(&self.full);
            return !key.closes();
        }
        out.reserve(self.prefix.len() + 64 + h.data.len() + h.fields.len() * 4);
        let start = out.len();
        out.extend_from_slice(&self.prefix);
        let keep = write_rest(h, body, opts, out);
        if key != NO_KEY {
            if key == self.last_miss {
                self.full.clear();
                self.full.extend_from_slice(&out[start..]);
                self.full_key = key;
                self.whole_body = None;
            }
            self.last_miss = key;
        }
        keep
    }

    #[cold]
    fn refill(
        &mut self,
        h: &ResponseHeader,
        opts: &WriteOptions<'_>,
        include: u8,
        secs: u64,
        server: &[u8],
    ) {
        let mut buf = ByteBuffer::from_vec(core::mem::take(&mut self.prefix));
        buf.reset();
        let date = if include & USER_DATE != 0 {
            crate::date::http_date_at(secs)
        } else {
            [0; HTTP_DATE_LEN]
        };
        write_prefix(h, opts, &date, &mut buf);
        self.prefix = buf.into_vec();
        self.full_key = NO_KEY;
        self.last_miss = NO_KEY;
        self.whole_body = None;
        self.include = include;
        self.secs = secs;
        self.server.clear();
        self.server.extend_from_slice(server);
    }
}

/// The `USER_*` bits of the defaults `opts` asks for, as the cache's
/// `include` holds them for a response that overrides none (an empty server
/// name writes no `Server` line).
#[inline(always)]
fn default_bits(opts: &WriteOptions<'_>) -> u8 {
    let mut bits = 0;
    if opts.server_name.is_some_and(|n| !n.is_empty()) {
        bits |= USER_SERVER;
    }
    if opts.date {
        bits |= USER_DATE;
    }
    if opts.default_content_type {
        bits |= USER_CONTENT_TYPE;
    }
    bits
}

/// `a == b`, for the short strings a server name is, with two overlapping
/// word compares instead of a call to `memcmp`.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    fn word<const W: usize>(s: &[u8], at: usize) -> Option<[u8; W]> {
        s.get(at..).and_then(|s| s.first_chunk::<W>()).copied()
    }
    match n {
        0 => true,
        1..=3 => a == b,
        4..=7 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::write_response_head;

    #[test]
    fn same_bytes_is_equality() {
        let words: Vec<Vec<u8>> = (0..40)
            .map(|n| (0..n).map(|k| b'a' + (k % 26) as u8).collect())
            .collect();
        for a in &words {
            for b in &words {
                assert_eq!(same_bytes(a, b), a == b);
                for k in 0..b.len() {
                    let mut c = b.clone();
                    c[k] ^= 0x20;
                    assert_eq!(same_bytes(a, &c), a == &c, "{a:?} {c:?}");
                }
            }
        }
    }

    /// `HeadCache::write` writes exactly what `write_response_head` writes,
    /// for every status, override and option, in any order of calls (the
    /// cache is shared across the whole sequence).
    #[test]
    fn head_cache_matches_the_plain_serializer() {
        let mut headers = Vec::new();
        for status in [200u16, 201, 204, 304, 101, 404] {
            for variant in 0..6 {
                let mut h = ResponseHeader::new();
                h.set_status(status).unwrap();
                match variant {
                    1 => h.set_reason(b"Fine").unwrap(),
                    2 => h.set_content_type(b"application/json").unwrap(),
                    3 => h.add(b"Server", b"mine").unwrap(),
                    4 => h.add(b"Date", b"yesterday").unwrap(),
                    5 => {
                        h.add(b"X-A", b"1").unwrap();
                        h.set_connection_close(true);
                    }
                    _ => {}
                }
                headers.push(h);
            }
        }
        let names: [Option<&[u8]>; 4] =
            [None, Some(b"brisk"), Some(b"other/1.0"), Some(b"bad\r\n")];
        let bodies = [
            ResponseBody::Length(13),
            ResponseBody::Chunked,
            ResponseBody::None,
        ];
        let mut cache = HeadCache::new();
        let mut n = 0;
        for round in 0..2 {
            for h in &headers {
                for (k, &server_name) in names.iter().enumerate() {
                    for bits in 0..32u8 {
                        let opts = WriteOptions {
                            server_name,
                            date: bits & 1 != 0,
                            default_content_type: bits & 2 != 0,
                            keep_alive: bits & 4 != 0,
                            head_request: bits & 8 != 0,
                            http10: bits & 16 != 0,
                        };
                        let body = bodies[(k + bits as usize + round) % bodies.len()];
                        // Retry once if the second turned between the calls.
                        let mut same = false;
                        for _ in 0..2 {
                            let (mut a, mut b) = (ByteBuffer::new(), ByteBuffer::new());
                            let ka = cache.write(h, body, &opts, &mut a);
                            let kb = write_response_head(h, body, &opts, &mut b);
                            // Again, twice: the repeated key fills the
                            // whole-head copy, the third write uses it.
                            let (mut a2, mut a3) = (ByteBuffer::new(), ByteBuffer::new());
                            let ka2 = cache.write(h, body, &opts, &mut a2);
                            let ka3 = cache.write(h, body, &opts, &mut a3);
                            if a.as_slice() == b.as_slice()
                                && a2.as_slice() == b.as_slice()
                                && a3.as_slice() == b.as_slice()
                            {
                                assert_eq!((ka, ka2, ka3), (kb, kb, kb));
                                same = true;
                                break;
                            }
                        }
                        assert!(same, "status {} opts {opts:?} body {body:?}", h.status);
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 2 * 36 * 4 * 32);
    }

    /// The whole-head copy is used only while everything it was made from
    /// holds: each single change after it is filled gets a fresh head.
    #[test]
    fn head_cache_whole_head_follows_each_change() {
        let base = WriteOptions {
            server_name: Some(b"brisk"),
            ..WriteOptions::default()
        };
        let plain = ResponseHeader::new();
        let mut closing = ResponseHeader::new();
        closing.set_connection_close(true);
        let mut other_type = ResponseHeader::new();
        other_type.set_content_type(b"text/html").unwrap();
        let mut created = ResponseHeader::new();
        created.set_status(201).unwrap();
        let mut with_field = ResponseHeader::new();
        with_field.add(b"X-A", b"1").unwrap();
        type Change = fn(&mut WriteOptions<'static>);
        let changes: [(&str, Change, usize, u64); 12] = [
            (
                "same server name length",
                |o| o.server_name = Some(b"krisb"),
                0,
                13,
            ),
            ("empty server name", |o| o.server_name = Some(b""), 0, 13),
            ("no server name", |o| o.server_name = None, 0, 13),
            ("no date", |o| o.date = false, 0, 13),
            ("no default type", |o| o.default_content_type = false, 0, 13),
            ("close", |o| o.keep_alive = false, 0, 13),
            ("http/1.0", |o| o.http10 = true, 0, 13),
            ("length", |_| {}, 0, 14),
            ("connection_close", |_| {}, 1, 13),
            ("content type", |_| {}, 2, 13),
            ("status", |_| {}, 3, 13),
            ("field", |_| {}, 4, 13),
        ];
        let heads = [&plain, &closing, &other_type, &created, &with_field];
        for (what, change, hi, len) in changes {
            // The second may turn between writes: retry once.
            let mut ok = false;
            for _ in 0..2 {
                let mut cache = HeadCache::new();
                for _ in 0..3 {
                    cache.write(
                        &plain,
                        ResponseBody::Length(13),
                        &base,
                        &mut ByteBuffer::new(),
                    );
                }
                let mut opts = base;
                change(&mut opts);
                let (mut a, mut b) = (ByteBuffer::new(), ByteBuffer::new());
                let ka = cache.write(heads[hi], ResponseBody::Length(len), &opts, &mut a);
                let kb = write_response_head(heads[hi], ResponseBody::Length(len), &opts, &mut b);
                if a == b {
                    assert_eq!(ka, kb, "{what}");
                    ok = true;
                    break;
                }
            }
            assert!(ok, "{what}: the whole-head copy was reused");
        }
    }

    #[test]
    fn head_cache_whole_response_follows_each_change() {
        static HELLO: [u8; 13] = *b"Hello, World!";
        static HELLO_TOO: [u8; 13] = *b"Hello, World!";
        static OTHER: [u8; 13] = *b"Other, world!";
        static LONGER: [u8; 14] = *b"Hello, World!!";
        let bodies: [&'static [u8]; 5] = [&HELLO, &HELLO_TOO, &OTHER, &LONGER, &HELLO[..12]];
        let mut closing = ResponseHeader::new();
        closing.set_connection_close(true);
        let mut created = ResponseHeader::new();
        created.set_status(201).unwrap();
        let mut with_field = ResponseHeader::new();
        with_field.add(b"X-A", b"1").unwrap();
        let plain = ResponseHeader::new();
        let heads = [&plain, &plain, &plain, &closing, &created, &with_field];
        let base = WriteOptions {
            server_name: Some(b"brisk"),
            ..WriteOptions::default()
        };
        type Change = fn(&mut WriteOptions<'static>);
        let changes: [Change; 6] = [
            |_| {},
            |_| {},
            |o| o.server_name = Some(b"krisb"),
            |o| o.keep_alive = false,
            |o| o.http10 = true,
            |o| o.date = false,
        ];
        // A fixed pseudo-random walk over body, head, options and second,
        // with long runs of the same response so the whole copy is made and
        // used; every step is compared with a fresh cache's output.
        let mut cache = HeadCache::new();
        let mut x: u32 = 0x2545_f491;
        let (mut bi, mut hi, mut ci, mut secs) = (0, 0, 0, 1_700_000_000u64);
        let mut whole_hits = 0;
        for step in 0..2000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match x % 16 {
                0 => bi = (x / 16) as usize % bodies.len(),
                1 => hi = (x / 16) as usize % heads.len(),
                2 => ci = (x / 16) as usize % changes.len(),
                3 => secs += 1,
                _ => {}
            }
            let mut opts = base;
            changes[ci](&mut opts);
            let body = bodies[bi];
            let hit = cache.whole_body.is_some_and(|b| core::ptr::eq(b, body));
            let (mut a, mut b) = (ByteBuffer::new(), ByteBuffer::new());
            let len = ResponseBody::Length(body.len() as u64);
            // Now and then a run of heads written without the static path
            // (a HEAD request, a copied body), which may refill `full`.
            let head_only = (x >> 8) % 8 == 0 || (step / 50) % 5 == 4;
            let ka = if head_only {
                cache.write_at(secs, heads[hi], len, &opts, &mut a)
            } else {
                cache.write_static_at(secs, heads[hi], body, &opts, &mut a)
            };
            let kb = HeadCache::new().write_at(secs, heads[hi], len, &opts, &mut b);
            if !head_only {
                b.extend_from_slice(body);
            }
            assert_eq!(a, b, "step {step}: body {bi}, head {hi}, change {ci}");
            assert_eq!(ka, kb, "step {step}");
            if hit && a.as_slice() == cache.whole.as_slice() {
                whole_hits += 1;
            }
        }
        assert!(whole_hits > 500, "the whole copy served only {whole_hits}");
    }
}
