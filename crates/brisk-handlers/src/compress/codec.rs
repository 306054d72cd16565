//! The codings themselves: one-shot encoding with per-thread reused
//! encoder state, streaming encoders, and bounded decoding.
// With every coding left out, the encoders are empty enums.
#![cfg_attr(
    not(any(feature = "gzip", feature = "br", feature = "zstd")),
    allow(unreachable_code, unused_variables, dead_code)
)]

use std::io::{self, Read, Write};

use brisk_http::Coding;

use super::Level;

/// The codings this build can produce and decode, in the server's order of
/// preference (the client's weights come first; this order breaks ties).
pub(crate) const AVAILABLE: &[Coding] = &[
    #[cfg(feature = "zstd")]
    Coding::Zstd,
    #[cfg(feature = "br")]
    Coding::Br,
    #[cfg(feature = "gzip")]
    Coding::Gzip,
    #[cfg(feature = "gzip")]
    Coding::Deflate,
];

/// Whether this build has `coding` (identity always).
pub(crate) fn available(coding: Coding) -> bool {
    coding == Coding::Identity || AVAILABLE.contains(&coding)
}

/// The encoder settings each coding gets for a [`Level`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Params {
    /// flate2 level, 0..=9.
    pub(crate) gzip: u32,
    /// Brotli quality, 0..=11.
    pub(crate) br: u32,
    /// zstd level, 1..=19 (above 19 the window passes the 8 MiB that
    /// RFC 8878 asks HTTP decoders to support).
    pub(crate) zstd: i32,
}

impl Level {
    pub(crate) fn params(self) -> Params {
        match self {
            Level::Fastest => Params {
                gzip: 1,
                br: 1,
                zstd: 1,
            },
            Level::Default => Params {
                gzip: 6,
                br: 4,
                zstd: 3,
            },
            Level::Best => Params {
                gzip: 9,
                br: 11,
                zstd: 19,
            },
        }
    }
}

/// Brotli window for streams (256 KiB): a stream's length is unknown, and
/// the default 4 MiB ring buffer per response is too much.
#[cfg(feature = "br")]
const BR_STREAM_LGWIN: i32 = 18;

/// zstd decoding window limit: 8 MiB, what RFC 8878 §3.1.1.1.2 asks HTTP
/// decoders to support; a frame asking for more is refused.
#[cfg(feature = "zstd")]
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// Appends `input` encoded with `coding` to `out` (whole: one frame). The
/// gzip, deflate and zstd encoder state is kept per thread and reset for
/// each body, so steady-state encoding allocates nothing.
pub(crate) fn encode(
    coding: Coding,
    params: Params,
    input: &[u8],
    out: &mut Vec<u8>,
) -> io::Result<()> {
    match coding {
        Coding::Identity => {
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Coding::Gzip => flate::gzip(params.gzip, input, out),
        #[cfg(feature = "gzip")]
        Coding::Deflate => flate::zlib(params.gzip, input, out),
        #[cfg(feature = "br")]
        Coding::Br => {
            let mut p = brotli::enc::BrotliEncoderParams {
                quality: params.br as i32,
                size_hint: input.len(),
                ..Default::default()
            };
            // The smallest window that holds the body (10..=22 bits): the
            // encoder's ring buffer is sized from it.
            p.lgwin = (usize::BITS - input.len().max(1).leading_zeros()).clamp(10, 22) as i32;
            brotli::BrotliCompress(&mut &input[..], out, &p).map(|_| ())
        }
        #[cfg(feature = "zstd")]
        Coding::Zstd => zstd_enc::encode(params.zstd, input, out),
        #[allow(unreachable_patterns)]
        _ => Err(unsupported(coding)),
    }
}

fn unsupported(coding: Coding) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("the {coding} coding is not built in (cargo feature off)"),
    )
}

#[cfg(feature = "gzip")]
mod flate {
    use std::cell::RefCell;
    use std::io;

    use flate2::{Compress, Compression, Crc, FlushCompress, Status};

    thread_local! {
        /// Raw deflate (for gzip) and zlib encoders, per level: reset and
        /// reused instead of allocating a fresh ~256 KiB state per body.
        static ENCODERS: RefCell<[Option<Compress>; 20]> = const { RefCell::new([const { None }; 20]) };
    }

    fn with_encoder<R>(level: u32, zlib: bool, f: impl FnOnce(&mut Compress) -> R) -> R {
        let level = level.min(9);
        ENCODERS.with(|cell| {
            let mut all = cell.borrow_mut();
            let slot = &mut all[level as usize + if zlib { 10 } else { 0 }];
            let c = slot.get_or_insert_with(|| Compress::new(Compression::new(level), zlib));
            c.reset();
            f(c)
        })
    }

    fn deflate(c: &mut Compress, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let start = c.total_in();
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve((input.len() / 4).max(1024));
            }
            let consumed = (c.total_in() - start) as usize;
            let status = c
                .compress_vec(&input[consumed..], out, FlushCompress::Finish)
                .map_err(|e| io::Error::other(e.to_string()))?;
            if status == Status::StreamEnd {
                return Ok(());
            }
        }
    }

    pub(super) fn gzip(level: u32, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        // RFC 1952 header: no name, no mtime, OS unknown.
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        with_encoder(level, false, |c| deflate(c, input, out))?;
        let mut crc = Crc::new();
        crc.update(input);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&(input.len() as u32).to_le_bytes());
        Ok(())
    }

    pub(super) fn zlib(level: u32, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        with_encoder(level, true, |c| deflate(c, input, out))
    }
}

#[cfg(feature = "zstd")]
mod zstd_enc {
    use std::cell::RefCell;
    use std::io;

    thread_local! {
        /// One zstd context per thread, its level set per body.
        static ENCODER: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
            const { RefCell::new(None) };
    }

    pub(super) fn encode(level: i32, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        ENCODER.with(|cell| {
            let mut slot = cell.borrow_mut();
            let (current, c) = match &mut *slot {
                Some((l, c)) => (l, c),
                None => {
                    let (l, c) = slot.insert((level, zstd::bulk::Compressor::new(level)?));
                    (l, c)
                }
            };
            if *current != level {
                c.set_compression_level(level)?;
                *current = level;
            }
            out.reserve(zstd::zstd_safe::compress_bound(input.len()));
            c.compress_to_buffer(input, out).map(|_| ())
        })
    }
}

/// A coding applied as a body is produced: each [`write`](Self::write)
/// appends what the encoder gives out; `flush` makes everything written so
/// far decodable by the client (a sync flush); [`finish`](Self::finish)
/// ends the frame.
pub(crate) struct StreamEncoder {
    inner: StreamInner,
}

enum StreamInner {
    #[cfg(feature = "gzip")]
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    #[cfg(feature = "gzip")]
    Deflate(flate2::write::ZlibEncoder<Vec<u8>>),
    #[cfg(feature = "br")]
    Br(Option<Box<brotli::CompressorWriter<Vec<u8>>>>),
    #[cfg(feature = "zstd")]
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl StreamEncoder {
    /// An encoder for `coding`; `Unsupported` for identity or a coding not
    /// built in.
    pub(crate) fn new(coding: Coding, params: Params) -> io::Result<StreamEncoder> {
        let _ = params;
        let inner = match coding {
            #[cfg(feature = "gzip")]
            Coding::Gzip => StreamInner::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(params.gzip.min(9)),
            )),
            #[cfg(feature = "gzip")]
            Coding::Deflate => StreamInner::Deflate(flate2::write::ZlibEncoder::new(
                Vec::new(),
                flate2::Compression::new(params.gzip.min(9)),
            )),
            #[cfg(feature = "br")]
            Coding::Br => {
                let p = brotli::enc::BrotliEncoderParams {
                    quality: params.br as i32,
                    lgwin: BR_STREAM_LGWIN,
                    ..Default::default()
                };
                StreamInner::Br(Some(Box::new(brotli::CompressorWriter::with_params(
                    Vec::new(),
                    4096,
                    &p,
                ))))
            }
            #[cfg(feature = "zstd")]
            Coding::Zstd => {
                StreamInner::Zstd(zstd::stream::write::Encoder::new(Vec::new(), params.zstd)?)
            }
            other => return Err(unsupported(other)),
        };
        Ok(StreamEncoder { inner })
    }

    /// Encodes `data`, appending the output to `out`; with `flush`,
    /// everything written so far is in `out` afterwards.
    pub(crate) fn write(&mut self, data: &[u8], flush: bool, out: &mut Vec<u8>) -> io::Result<()> {
        fn step<W: Write>(w: &mut W, data: &[u8], flush: bool) -> io::Result<()> {
            w.write_all(data)?;
            if flush { w.flush() } else { Ok(()) }
        }
        match &mut self.inner {
            #[cfg(feature = "gzip")]
            StreamInner::Gzip(e) => {
                step(e, data, flush)?;
                out.append(e.get_mut());
            }
            #[cfg(feature = "gzip")]
            StreamInner::Deflate(e) => {
                step(e, data, flush)?;
                out.append(e.get_mut());
            }
            #[cfg(feature = "br")]
            StreamInner::Br(e) => {
                let e = e.as_mut().ok_or_else(finished)?;
                step(e.as_mut(), data, flush)?;
                out.append(e.get_mut());
            }
            #[cfg(feature = "zstd")]
            StreamInner::Zstd(e) => {
                step(e, data, flush)?;
                out.append(e.get_mut());
            }
            #[cfg(not(any(feature = "gzip", feature = "br", feature = "zstd")))]
            _ => return Err(io::Error::other("no coding is built in")),
        }
        Ok(())
    }

    /// Ends the frame, appending the rest of the output to `out`.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        match &mut self.inner {
            #[cfg(feature = "gzip")]
            StreamInner::Gzip(e) => {
                e.try_finish()?;
                out.append(e.get_mut());
            }
            #[cfg(feature = "gzip")]
            StreamInner::Deflate(e) => {
                e.try_finish()?;
                out.append(e.get_mut());
            }
            #[cfg(feature = "br")]
            StreamInner::Br(e) => {
                let e = e.take().ok_or_else(finished)?;
                out.append(&mut e.into_inner());
            }
            #[cfg(feature = "zstd")]
            StreamInner::Zstd(e) => {
                e.do_finish()?;
                out.append(e.get_mut());
            }
            #[cfg(not(any(feature = "gzip", feature = "br", feature = "zstd")))]
            _ => return Err(io::Error::other("no coding is built in")),
        }
        Ok(())
    }
}

#[cfg(feature = "br")]
fn finished() -> io::Error {
    io::Error::other("the stream was already finished")
}

/// Why a request body could not be decoded.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// The output passed the limit (size or ratio).
    TooLarge,
    /// Not valid data for the coding (or trailing bytes after it).
    Corrupt(io::Error),
    /// The coding is not built in.
    Unsupported,
}

/// Decodes `input` (one body in `coding`) into `out`, stopping with
/// [`DecodeError::TooLarge`] as soon as the output passes `limit` bytes:
/// at most `limit` plus one read (8 KiB) is ever held.
pub(crate) fn decode(
    coding: Coding,
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    match coding {
        Coding::Identity => {
            if input.len() > limit {
                return Err(DecodeError::TooLarge);
            }
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Coding::Gzip => {
            // Several members are one body (RFC 1952 §2.2); bytes after the
            // last that do not start a member are an error.
            let mut d = flate2::bufread::MultiGzDecoder::new(input);
            drain(&mut d, limit, out)
        }
        #[cfg(feature = "gzip")]
        Coding::Deflate => {
            let mut d = flate2::bufread::ZlibDecoder::new(input);
            drain(&mut d, limit, out)?;
            if !d.into_inner().is_empty() {
                return Err(trailing());
            }
            Ok(())
        }
        #[cfg(feature = "br")]
        Coding::Br => {
            let mut d = brotli::Decompressor::new(input, 4096);
            drain(&mut d, limit, out)
        }
        #[cfg(feature = "zstd")]
        Coding::Zstd => {
            let mut d =
                zstd::stream::read::Decoder::with_buffer(input).map_err(DecodeError::Corrupt)?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(DecodeError::Corrupt)?;
            drain(&mut d, limit, out)
        }
        #[allow(unreachable_patterns)]
        _ => Err(DecodeError::Unsupported),
    }
}

#[cfg(feature = "gzip")]
fn trailing() -> DecodeError {
    DecodeError::Corrupt(io::Error::new(
        io::ErrorKind::InvalidData,
        "bytes after the end of the compressed data",
    ))
}

#[allow(dead_code)]
fn drain(r: &mut dyn Read, limit: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let mut piece = [0u8; 8192];
    loop {
        match r.read(&mut piece) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if out.len() + n > limit {
                    return Err(DecodeError::TooLarge);
                }
                out.extend_from_slice(&piece[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DecodeError::Corrupt(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"{\"message\":\"Hello, World!\",\"items\":[1,2,3,4,5,6,7,8,9,10]}";

    fn round_trip(coding: Coding, level: Level, body: &[u8]) {
        let mut enc = Vec::new();
        encode(coding, level.params(), body, &mut enc).unwrap();
        let mut dec = Vec::new();
        decode(coding, &enc, usize::MAX, &mut dec).unwrap();
        assert_eq!(dec, body, "{coding} {level:?}");
    }

    #[test]
    fn one_shot_round_trips_every_coding_and_level() {
        let big: Vec<u8> = BODY.iter().cycle().take(100_000).copied().collect();
        for &c in AVAILABLE {
            for level in [Level::Fastest, Level::Default, Level::Best] {
                round_trip(c, level, b"");
                round_trip(c, level, BODY);
                round_trip(c, level, &big);
            }
        }
    }

    #[test]
    fn reused_encoder_state_gives_the_same_output() {
        for &c in AVAILABLE {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            encode(c, Level::Default.params(), BODY, &mut a).unwrap();
            encode(
                c,
                Level::Default.params(),
                b"something else entirely",
                &mut Vec::new(),
            )
            .unwrap();
            encode(c, Level::Default.params(), BODY, &mut b).unwrap();
            assert_eq!(a, b, "{c}");
        }
    }

    #[test]
    fn stream_flushes_make_the_prefix_decodable() {
        for &c in AVAILABLE {
            let mut enc = StreamEncoder::new(c, Level::Default.params()).unwrap();
            let mut out = Vec::new();
            enc.write(b"data: one\n\n", true, &mut out).unwrap();
            // What was flushed decodes to what was written, before the end.
            let mut prefix = Vec::new();
            let mut d: Box<dyn Read> = match c {
                #[cfg(feature = "gzip")]
                Coding::Gzip => Box::new(flate2::read::GzDecoder::new(&out[..])),
                #[cfg(feature = "gzip")]
                Coding::Deflate => Box::new(flate2::read::ZlibDecoder::new(&out[..])),
                #[cfg(feature = "br")]
                Coding::Br => Box::new(brotli::Decompressor::new(&out[..], 4096)),
                #[cfg(feature = "zstd")]
                Coding::Zstd => Box::new(zstd::stream::read::Decoder::new(&out[..]).unwrap()),
                _ => unreachable!(),
            };
            let mut piece = [0u8; 64];
            while prefix.len() < 11 {
                match d.read(&mut piece) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => prefix.extend_from_slice(&piece[..n]),
                }
            }
            drop(d);
            assert_eq!(prefix, b"data: one\n\n", "{c}");
            enc.write(b"data: two\n\n", false, &mut out).unwrap();
            enc.finish(&mut out).unwrap();
            let mut all = Vec::new();
            decode(c, &out, usize::MAX, &mut all).unwrap();
            assert_eq!(all, b"data: one\n\ndata: two\n\n", "{c}");
        }
    }

    #[test]
    fn decoding_stops_at_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        for &c in AVAILABLE {
            let mut enc = Vec::new();
            encode(c, Level::Default.params(), &zeros, &mut enc).unwrap();
            let mut out = Vec::new();
            assert!(matches!(
                decode(c, &enc, 1000, &mut out),
                Err(DecodeError::TooLarge)
            ));
            assert!(out.len() <= 1000, "{c}: held {}", out.len());
        }
    }

    #[test]
    fn corrupt_and_truncated_input_is_an_error() {
        for &c in AVAILABLE {
            let mut enc = Vec::new();
            encode(c, Level::Default.params(), BODY, &mut enc).unwrap();
            let truncated = &enc[..enc.len() - 3];
            assert!(
                matches!(
                    decode(c, truncated, 1 << 20, &mut Vec::new()),
                    Err(DecodeError::Corrupt(_))
                ),
                "{c}: truncated"
            );
            assert!(
                matches!(
                    decode(c, b"definitely not compressed", 1 << 20, &mut Vec::new()),
                    Err(DecodeError::Corrupt(_))
                ),
                "{c}: garbage"
            );
        }
    }
}
