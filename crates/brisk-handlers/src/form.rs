//! Typed access to query strings and `application/x-www-form-urlencoded`
//! bodies: [`Form`].
//!
//! brisk-http splits the arguments (`parse_args`) and decodes them
//! (`decode_arg`: `+` is a space, `%XX` a byte); a [`Form`] adds limits,
//! UTF-8 and number checks, and errors that name the argument.
//!
//! ```
//! use brisk_handlers::form::{Form, FormError, FormLimits};
//!
//! let form = Form::new(b"name=J%C3%BCrgen+K&age=42&tag=a&tag=b&debug&n=x", FormLimits::default())?;
//! assert_eq!(form.get_str("name")?.as_deref(), Some("Jürgen K"));
//! assert_eq!(form.get_u64("age")?, Some(42));
//! assert_eq!(form.get_u64("missing")?, None);
//! assert_eq!(form.get_all("tag")?, ["a", "b"]);
//! assert_eq!(form.get_bool("debug")?, Some(true));
//! let err = form.get_i64("n").unwrap_err();
//! assert_eq!(err.to_string(), "form argument `n`: not an integer");
//! assert_eq!(err.status(), 400);
//! # Ok::<(), FormError>(())
//! ```
//!
//! In a handler, [`FormExt`] gives `ctx.query_form()` and
//! `ctx.post_form()`. A form body that the server streams
//! (`stream_request_body`) is not in `ctx.body()`: read it and use
//! [`Form::new`]. `multipart/form-data` bodies are
//! [`multipart`](crate::multipart)'s.

use std::borrow::Cow;
use std::fmt;

use brisk_http::{decode_arg, parse_args};
use brisk_server::RequestCtx;

/// The arguments of a query string or form body, checked against
/// [`FormLimits`] once and decoded on each lookup.
///
/// Names are compared after decoding (`a%5B%5D` is `a[]`). Lookups scan the
/// arguments (no map is built: forms are small and a scan allocates
/// nothing); a value is copied only when it has escapes to decode.
#[derive(Clone, Debug)]
pub struct Form<'a> {
    raw: &'a [u8],
    limits: FormLimits,
}

/// Bounds on a [`Form`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormLimits {
    max_args: usize,
    max_value_len: usize,
}

/// Why a form argument cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormError {
    /// More arguments than [`FormLimits::max_args`] (413).
    TooManyArgs {
        /// The limit.
        limit: usize,
    },
    /// A decoded value longer than [`FormLimits::max_value_len`] (413).
    ValueTooLong {
        /// The argument's name.
        name: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The decoded value is not UTF-8 (400).
    NotUtf8 {
        /// The argument's name.
        name: String,
    },
    /// The value does not parse as the type asked for (400).
    Invalid {
        /// The argument's name.
        name: String,
        /// What was expected, e.g. "an integer".
        expected: &'static str,
    },
}

/// Forms from a request.
pub trait FormExt<'a> {
    /// The query string's arguments, with default limits.
    fn query_form(&self) -> Result<Form<'a>, FormError>;

    /// The body's arguments when its `Content-Type` is
    /// `application/x-www-form-urlencoded` (an empty form otherwise, and
    /// for a streamed body), with default limits.
    fn post_form(&self) -> Result<Form<'a>, FormError>;
}

impl Default for FormLimits {
    /// 1000 arguments, 1 MiB per decoded value.
    fn default() -> FormLimits {
        FormLimits {
            max_args: 1000,
            max_value_len: 1 << 20,
        }
    }
}

impl FormLimits {
    /// At most this many arguments (empty pairs between `&&` do not count).
    pub fn max_args(mut self, n: usize) -> Self {
        self.max_args = n;
        self
    }

    /// At most this many bytes in one decoded value.
    pub fn max_value_len(mut self, n: usize) -> Self {
        self.max_value_len = n;
        self
    }
}

impl<'a> Form<'a> {
    /// The arguments in `raw` (a query string without `?`, or a form body).
    ///
    /// # Errors
    ///
    /// [`FormError::TooManyArgs`] when `raw` has more arguments than the
    /// limit allows.
    pub fn new(raw: &'a [u8], limits: FormLimits) -> Result<Form<'a>, FormError> {
        if parse_args(raw).nth(limits.max_args).is_some() {
            return Err(FormError::TooManyArgs {
                limit: limits.max_args,
            });
        }
        Ok(Form { raw, limits })
    }

    /// The raw bytes the arguments come from.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Every argument as decoded (name, value) bytes, in order.
    pub fn iter(&self) -> impl Iterator<Item = (Cow<'a, [u8]>, Cow<'a, [u8]>)> + '_ {
        let raw = self.raw;
        parse_args(raw).map(move |(n, v)| (decode(n.get(raw)), decode(v.get(raw))))
    }

    /// The first value named `name`, decoded, as bytes.
    pub fn get_bytes(&self, name: &str) -> Result<Option<Cow<'a, [u8]>>, FormError> {
        match self.raw_values(name).next() {
            Some(v) => self.decoded(name, v).map(Some),
            None => Ok(None),
        }
    }

    /// The first value named `name`, decoded, as UTF-8 text.
    pub fn get_str(&self, name: &str) -> Result<Option<Cow<'a, str>>, FormError> {
        match self.get_bytes(name)? {
            Some(v) => utf8(name, v).map(Some),
            None => Ok(None),
        }
    }

    /// Every value named `name`, decoded, as UTF-8 text, in order
    /// (`tag=a&tag=b`).
    pub fn get_all(&self, name: &str) -> Result<Vec<Cow<'a, str>>, FormError> {
        self.raw_values(name)
            .map(|v| utf8(name, self.decoded(name, v)?))
            .collect()
    }

    /// The first value named `name` as an unsigned integer (decimal; an
    /// empty value counts as absent, as an empty form field).
    pub fn get_u64(&self, name: &str) -> Result<Option<u64>, FormError> {
        self.parse(name, "an unsigned integer")
    }

    /// The first value named `name` as an integer (decimal, optional
    /// sign; an empty value counts as absent).
    pub fn get_i64(&self, name: &str) -> Result<Option<i64>, FormError> {
        self.parse(name, "an integer")
    }

    /// The first value named `name` as a finite number (an empty value
    /// counts as absent; `inf` and `NaN` are refused).
    pub fn get_f64(&self, name: &str) -> Result<Option<f64>, FormError> {
        match self.parse::<f64>(name, "a number")? {
            Some(x) if !x.is_finite() => Err(invalid(name, "a number")),
            x => Ok(x),
        }
    }

    /// The first value named `name` as a boolean: `true`, `1`, `on`,
    /// `yes` or an empty value (`?debug`: present) are true; `false`, `0`,
    /// `off` and `no` are false (ASCII case-insensitive); anything else is
    /// an error. An HTML checkbox sends `on` when checked and nothing when
    /// not: read it as `get_bool(..)?.unwrap_or(false)`.
    pub fn get_bool(&self, name: &str) -> Result<Option<bool>, FormError> {
        let Some(v) = self.get_bytes(name)? else {
            return Ok(None);
        };
        let is = |w: &[u8]| v.eq_ignore_ascii_case(w);
        if v.is_empty() || is(b"true") || is(b"1") || is(b"on") || is(b"yes") {
            Ok(Some(true))
        } else if is(b"false") || is(b"0") || is(b"off") || is(b"no") {
            Ok(Some(false))
        } else {
            Err(invalid(name, "a boolean"))
        }
    }

    /// The raw values of the arguments whose decoded name is `name`.
    fn raw_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        let raw = self.raw;
        parse_args(raw)
            .filter(move |(n, _)| *decode(n.get(raw)) == *name.as_bytes())
            .map(move |(_, v)| v.get(raw))
    }

    fn decoded(&self, name: &str, raw: &'a [u8]) -> Result<Cow<'a, [u8]>, FormError> {
        let v = decode(raw);
        if v.len() > self.limits.max_value_len {
            return Err(FormError::ValueTooLong {
                name: name.to_owned(),
                limit: self.limits.max_value_len,
            });
        }
        Ok(v)
    }

    fn parse<T: std::str::FromStr>(
        &self,
        name: &str,
        expected: &'static str,
    ) -> Result<Option<T>, FormError> {
        match self.get_str(name)? {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            // `FromStr` for numbers accepts a leading `+`; nothing else
            // (no spaces, no `_`, no hex).
            Some(v) => v.parse().map(Some).map_err(|_| invalid(name, expected)),
        }
    }
}

impl FormError {
    /// The HTTP status to answer with: 413 for a limit, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            FormError::TooManyArgs { .. } | FormError::ValueTooLong { .. } => 413,
            _ => 400,
        }
    }
}

impl<'a> FormExt<'a> for RequestCtx<'a> {
    fn query_form(&self) -> Result<Form<'a>, FormError> {
        Form::new(self.query_string(), FormLimits::default())
    }

    fn post_form(&self) -> Result<Form<'a>, FormError> {
        let form = self.content_type().is_some_and(|ct| {
            brisk_buf::starts_with_ignore_ascii_case(ct, b"application/x-www-form-urlencoded")
        });
        Form::new(if form { self.body() } else { &[] }, FormLimits::default())
    }
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormError::TooManyArgs { limit } => write!(f, "form has more than {limit} arguments"),
            FormError::ValueTooLong { name, limit } => {
                write!(f, "form argument `{name}`: longer than {limit} bytes")
            }
            FormError::NotUtf8 { name } => write!(f, "form argument `{name}`: not UTF-8"),
            FormError::Invalid { name, expected } => {
                write!(f, "form argument `{name}`: not {expected}")
            }
        }
    }
}

impl std::error::Error for FormError {}

/// `raw` decoded, borrowed when it has nothing to decode.
fn decode(raw: &[u8]) -> Cow<'_, [u8]> {
    if raw.iter().any(|&b| b == b'%' || b == b'+') {
        let mut out = Vec::new();
        decode_arg(raw, &mut out);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(raw)
    }
}

fn utf8<'a>(name: &str, v: Cow<'a, [u8]>) -> Result<Cow<'a, str>, FormError> {
    let not_utf8 = || FormError::NotUtf8 {
        name: name.to_owned(),
    };
    match v {
        Cow::Borrowed(b) => std::str::from_utf8(b)
            .map(Cow::Borrowed)
            .map_err(|_| not_utf8()),
        Cow::Owned(b) => String::from_utf8(b).map(Cow::Owned).map_err(|_| not_utf8()),
    }
}

fn invalid(name: &str, expected: &'static str) -> FormError {
    FormError::Invalid {
        name: name.to_owned(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(raw: &[u8]) -> Form<'_> {
        Form::new(raw, FormLimits::default()).unwrap()
    }

    #[test]
    fn strings_are_decoded_and_checked() {
        let f = form(b"a=x+y%21&b=%ff&c=&%61%5B%5D=1&d=%zz");
        assert_eq!(f.get_str("a").unwrap().as_deref(), Some("x y!"));
        assert!(matches!(f.get_str("a").unwrap(), Some(Cow::Owned(_))));
        assert_eq!(f.get_str("b"), Err(FormError::NotUtf8 { name: "b".into() }));
        assert_eq!(f.get_bytes("b").unwrap().as_deref(), Some(&[0xff][..]));
        assert_eq!(f.get_str("c").unwrap().as_deref(), Some(""));
        assert_eq!(f.get_str("a[]").unwrap().as_deref(), Some("1"));
        assert_eq!(f.get_str("d").unwrap().as_deref(), Some("%zz"));
        assert_eq!(f.get_str("zz").unwrap(), None);
        let plain = form(b"k=plain");
        assert!(matches!(
            plain.get_str("k").unwrap(),
            Some(Cow::Borrowed("plain"))
        ));
    }

    #[test]
    fn numbers() {
        let f = form(
            b"u=42&n=-7&p=%2B5&big=18446744073709551616&e=&f=2.5&s=1%200&x=0x10&inf=inf&nan=NaN",
        );
        assert_eq!(f.get_u64("u"), Ok(Some(42)));
        assert_eq!(f.get_i64("n"), Ok(Some(-7)));
        assert_eq!(f.get_i64("p"), Ok(Some(5)));
        assert_eq!(f.get_u64("e"), Ok(None));
        assert_eq!(f.get_f64("f"), Ok(Some(2.5)));
        assert_eq!(f.get_f64("u"), Ok(Some(42.0)));
        assert_eq!(f.get_u64("none"), Ok(None));
        for (name, expected) in [
            ("n", "an unsigned integer"),
            ("big", "an unsigned integer"),
            ("s", "an unsigned integer"),
            ("x", "an unsigned integer"),
            ("f", "an unsigned integer"),
        ] {
            assert_eq!(
                f.get_u64(name),
                Err(FormError::Invalid {
                    name: name.into(),
                    expected
                }),
                "{name}"
            );
        }
        assert!(f.get_f64("inf").is_err());
        assert!(f.get_f64("nan").is_err());
        assert!(f.get_i64("big").is_err());
    }

    #[test]
    fn booleans() {
        let f = form(b"a=true&b=0&c=ON&d&e=No&f=maybe");
        assert_eq!(f.get_bool("a"), Ok(Some(true)));
        assert_eq!(f.get_bool("b"), Ok(Some(false)));
        assert_eq!(f.get_bool("c"), Ok(Some(true)));
        assert_eq!(f.get_bool("d"), Ok(Some(true)));
        assert_eq!(f.get_bool("e"), Ok(Some(false)));
        assert_eq!(f.get_bool("g"), Ok(None));
        let e = f.get_bool("f").unwrap_err();
        assert_eq!(e.to_string(), "form argument `f`: not a boolean");
    }

    #[test]
    fn repeated_names() {
        let f = form(b"t=1&x=0&t=2&t=%E2%82%AC&t=");
        assert_eq!(f.get_all("t").unwrap(), ["1", "2", "€", ""]);
        assert_eq!(f.get_str("t").unwrap().as_deref(), Some("1"));
        assert!(f.get_all("none").unwrap().is_empty());
        assert!(form(b"t=1&t=%ff").get_all("t").is_err());
        let all: Vec<_> = form(b"a=1&b").iter().collect();
        assert_eq!(all.len(), 2);
        assert_eq!(&*all[1].0, b"b");
    }

    #[test]
    fn limits() {
        let raw = b"a=1&b=2&&c=3";
        assert!(Form::new(raw, FormLimits::default().max_args(3)).is_ok());
        let e = Form::new(raw, FormLimits::default().max_args(2)).unwrap_err();
        assert_eq!(e, FormError::TooManyArgs { limit: 2 });
        assert_eq!(e.status(), 413);
        let f = Form::new(
            b"v=%41%41%41&w=AAAA",
            FormLimits::default().max_value_len(3),
        )
        .unwrap();
        assert_eq!(f.get_str("v").unwrap().as_deref(), Some("AAA"));
        let e = f.get_str("w").unwrap_err();
        assert_eq!(
            e,
            FormError::ValueTooLong {
                name: "w".into(),
                limit: 3
            }
        );
        assert_eq!(e.status(), 413);
        assert_eq!(e.to_string(), "form argument `w`: longer than 3 bytes");
    }
}
