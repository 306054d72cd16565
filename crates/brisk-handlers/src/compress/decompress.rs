//! Opt-in decoding of compressed request bodies.

use std::io::Read;

use brisk_http::Coding;
use brisk_server::RequestCtx;

use super::codec::{self, AVAILABLE, DecodeError};

/// Request decompression settings; [`wrap`](Self::wrap) puts them around a
/// handler. See the [module docs](super#request-bodies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decompress {
    max_size: usize,
    max_ratio: usize,
}

/// Default [`Decompress::max_size`]: 8 MiB.
pub const DEFAULT_MAX_SIZE: usize = 8 << 20;
/// Default [`Decompress::max_ratio`].
pub const DEFAULT_MAX_RATIO: usize = 100;

impl Default for Decompress {
    fn default() -> Decompress {
        Decompress::new()
    }
}

/// Wraps `handler` with request decompression at the default limits
/// ([`Decompress::new`]).
pub fn decompress_requests<H>(handler: H) -> impl Fn(&mut RequestCtx<'_>) + Send + Sync + 'static
where
    H: Fn(&mut RequestCtx<'_>) + Send + Sync + 'static,
{
    Decompress::new().wrap(handler)
}

/// Why a body was refused, and the status that says it.
#[derive(Debug)]
enum Refusal {
    TooLarge,
    Corrupt(String),
    Unsupported(String),
    Read(String),
}

impl Decompress {
    /// Decoded bodies up to [`DEFAULT_MAX_SIZE`] and [`DEFAULT_MAX_RATIO`]
    /// times their encoded size.
    pub fn new() -> Decompress {
        Decompress {
            max_size: DEFAULT_MAX_SIZE,
            max_ratio: DEFAULT_MAX_RATIO,
        }
    }

    /// The most bytes a decoded body may have (413 past it).
    pub fn max_size(mut self, bytes: usize) -> Decompress {
        self.max_size = bytes;
        self
    }

    /// The most a decoded body may have per encoded byte (413 past it):
    /// the zip-bomb bound. At least 1.
    pub fn max_ratio(mut self, ratio: usize) -> Decompress {
        self.max_ratio = ratio.max(1);
        self
    }

    /// The decoded-size limit for a body of `encoded` bytes.
    pub fn limit_for(&self, encoded: usize) -> usize {
        self.max_size.min(encoded.saturating_mul(self.max_ratio))
    }

    /// Decodes the request body, then runs `handler` on the decoded
    /// request; answers 413, 400 or 415 itself when the body cannot be
    /// decoded within the limits.
    pub fn wrap<H>(self, handler: H) -> impl Fn(&mut RequestCtx<'_>) + Send + Sync + 'static
    where
        H: Fn(&mut RequestCtx<'_>) + Send + Sync + 'static,
    {
        move |ctx: &mut RequestCtx<'_>| self.handle(ctx, &handler)
    }

    fn handle(&self, ctx: &mut RequestCtx<'_>, handler: &dyn Fn(&mut RequestCtx<'_>)) {
        let coding = match request_coding(ctx.header(b"content-encoding")) {
            Ok(None) => return handler(ctx),
            Ok(Some(c)) => c,
            Err(r) => return refuse(ctx, r),
        };
        let body: &[u8] = ctx.body();
        let mut streamed = Vec::new();
        let encoded: &[u8] = match ctx.body_reader() {
            None => body,
            Some(reader) => {
                // Read to the end, at most `max_size` (+1 to see it pass).
                let cap = self.max_size as u64 + 1;
                if let Err(e) = reader.take(cap).read_to_end(&mut streamed) {
                    return refuse(ctx, Refusal::Read(e.to_string()));
                }
                if streamed.len() > self.max_size {
                    return refuse(ctx, Refusal::TooLarge);
                }
                &streamed
            }
        };
        let mut decoded = Vec::new();
        match codec::decode(coding, encoded, self.limit_for(encoded.len()), &mut decoded) {
            Ok(()) => ctx.with_decoded_body(&decoded, handler),
            Err(DecodeError::TooLarge) => refuse(ctx, Refusal::TooLarge),
            Err(DecodeError::Corrupt(e)) => refuse(ctx, Refusal::Corrupt(e.to_string())),
            Err(DecodeError::Unsupported) => refuse(
                ctx,
                Refusal::Unsupported(format!("the {coding} coding is not built in")),
            ),
        }
    }
}

/// The single coding of a request's `Content-Encoding` (`None`: none, or
/// only `identity`).
fn request_coding(value: Option<&[u8]>) -> Result<Option<Coding>, Refusal> {
    let Some(value) = value else {
        return Ok(None);
    };
    let mut found = None;
    for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
        if token.is_empty() {
            continue;
        }
        let coding = Coding::from_token(token)
            .filter(|&c| codec::available(c))
            .ok_or_else(|| {
                Refusal::Unsupported(format!(
                    "Content-Encoding {:?} is not one this server decodes",
                    String::from_utf8_lossy(token)
                ))
            })?;
        if coding == Coding::Identity {
            continue;
        }
        if found.replace(coding).is_some() {
            return Err(Refusal::Unsupported(
                "several stacked Content-Encodings are not supported".into(),
            ));
        }
    }
    Ok(found)
}

fn refuse(ctx: &mut RequestCtx<'_>, why: Refusal) {
    let (status, message) = match why {
        Refusal::TooLarge => (
            413,
            "413 Payload Too Large: the decoded request body passes the size or ratio limit"
                .to_owned(),
        ),
        Refusal::Corrupt(e) => (
            400,
            format!("400 Bad Request: the request body does not decode: {e}"),
        ),
        Refusal::Read(e) => (
            400,
            format!("400 Bad Request: reading the request body failed: {e}"),
        ),
        Refusal::Unsupported(e) => (415, format!("415 Unsupported Media Type: {e}")),
    };
    ctx.error(&message, status);
    if status == 415 {
        let accepted: Vec<&str> = AVAILABLE.iter().map(|c| c.as_str()).collect();
        let value = if accepted.is_empty() {
            "identity".to_owned()
        } else {
            accepted.join(", ")
        };
        // A valid header: cannot fail.
        let _ = ctx.set_header(b"Accept-Encoding", value.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_encoding_values() {
        assert!(matches!(request_coding(None), Ok(None)));
        assert!(matches!(request_coding(Some(b"identity")), Ok(None)));
        assert!(matches!(request_coding(Some(b" , ")), Ok(None)));
        #[cfg(feature = "gzip")]
        {
            assert!(matches!(
                request_coding(Some(b"GZIP")),
                Ok(Some(Coding::Gzip))
            ));
            assert!(matches!(
                request_coding(Some(b"x-gzip")),
                Ok(Some(Coding::Gzip))
            ));
            assert!(matches!(
                request_coding(Some(b"identity, deflate")),
                Ok(Some(Coding::Deflate))
            ));
            assert!(matches!(
                request_coding(Some(b"gzip, gzip")),
                Err(Refusal::Unsupported(_))
            ));
        }
        assert!(matches!(
            request_coding(Some(b"compress")),
            Err(Refusal::Unsupported(_))
        ));
        assert!(matches!(
            request_coding(Some(b"gz ip")),
            Err(Refusal::Unsupported(_))
        ));
    }

    #[test]
    fn limit_is_the_smaller_of_size_and_ratio() {
        let d = Decompress::new().max_size(1000).max_ratio(10);
        assert_eq!(d.limit_for(5), 50);
        assert_eq!(d.limit_for(500), 1000);
        assert_eq!(d.limit_for(usize::MAX), 1000);
        assert_eq!(Decompress::new().max_ratio(0).limit_for(7), 7);
    }
}
