//! `Set-Cookie` headers (RFC 6265), built and validated: [`SetCookie`].
//!
//! ```
//! use std::time::Duration;
//! use brisk_handlers::cookie::{SameSite, SetCookie};
//!
//! let c = SetCookie::new("sid", "a1b2c3")
//!     .path("/")
//!     .max_age(Duration::from_secs(3600))
//!     .secure()
//!     .http_only()
//!     .same_site(SameSite::Lax);
//! assert_eq!(
//!     c.to_header_value()?,
//!     b"sid=a1b2c3; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax"
//! );
//!
//! // In a handler: `ctx.set_cookie(&c)?` (the `CookieExt` trait), and
//! // `ctx.remove_cookie(SetCookie::removal("sid").path("/"))?` to delete it.
//! assert_eq!(
//!     SetCookie::removal("sid").path("/").to_header_value()?,
//!     b"sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"
//! );
//!
//! // Invalid input is a typed error, never a broken header.
//! assert!(SetCookie::new("sid", "a b").to_header_value().is_err());
//! assert!(SetCookie::new("x", "1").same_site(SameSite::None).to_header_value().is_err());
//! # Ok::<(), brisk_handlers::cookie::CookieError>(())
//! ```
//!
//! Reading the request's cookies is `RequestCtx::cookie`/`cookies`
//! (brisk-http's `parse_cookies`); this module only writes them.
//!
//! *Why not the `cookie` crate:* it carries a date library (`time`) for one
//! date format that brisk-http already writes, its builder accepts any
//! name and value and writes them as given (validation is left to the
//! caller), and it owns its strings. This builder borrows its strings,
//! validates every part against RFC 6265's grammar (and the `__Secure-`,
//! `__Host-`, `SameSite=None` and `Partitioned` rules browsers enforce) and
//! writes the header value in one buffer.
//!
//! Not supported: the `Priority` attribute and extension attributes;
//! encoding of values (a value must already be cookie-octets: encode it,
//! e.g. percent- or base64url-encode, before).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use brisk_server::RequestCtx;

/// A `Set-Cookie` header value under construction. Every setter is
/// infallible; [`to_header_value`](Self::to_header_value) (and
/// [`CookieExt::set_cookie`]) validate the whole cookie and say what is
/// wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetCookie<'a> {
    name: &'a str,
    value: &'a str,
    path: Option<&'a str>,
    domain: Option<&'a str>,
    expires: Option<SystemTime>,
    max_age: Option<Duration>,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
    partitioned: bool,
}

/// The `SameSite` attribute: when the browser sends the cookie with
/// requests started by other sites.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// Only with requests from the same site.
    Strict,
    /// Also with top-level navigations from other sites (browsers' default).
    Lax,
    /// With every request; requires [`Secure`](SetCookie::secure).
    None,
}

/// Why a cookie cannot be written.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CookieError {
    /// The name is empty or not an RFC 9110 token.
    InvalidName,
    /// The value holds a byte outside RFC 6265's cookie-octets (space,
    /// `"`, `,`, `;`, `\`, controls, non-ASCII) or has unbalanced quotes.
    InvalidValue,
    /// The path is empty, does not start with `/`, or holds `;` or a
    /// control byte.
    InvalidPath,
    /// The domain is not a host name (letters, digits, `-` and `.`, no
    /// empty label).
    InvalidDomain,
    /// Name and value together are longer than 4096 bytes (browsers drop
    /// such cookies).
    TooLarge,
    /// `SameSite=None` without `Secure` (browsers reject it).
    SameSiteNoneWithoutSecure,
    /// `Partitioned` without `Secure` (browsers reject it).
    PartitionedWithoutSecure,
    /// A `__Secure-` cookie without `Secure`, or a `__Host-` cookie
    /// without `Secure`, without `Path=/` or with a `Domain`.
    PrefixRules,
}

/// Sets and removes cookies on a response.
pub trait CookieExt {
    /// Adds a `Set-Cookie` header for `cookie` (earlier ones stay: one
    /// header per cookie).
    fn set_cookie(&mut self, cookie: &SetCookie<'_>) -> Result<(), CookieError>;

    /// Tells the browser to delete a cookie: `removal` is
    /// [`SetCookie::removal`] with the same `Path` and `Domain` the cookie
    /// was set with (a browser only deletes the cookie they match).
    fn remove_cookie(&mut self, removal: SetCookie<'_>) -> Result<(), CookieError>;
}

/// The longest name plus value browsers keep.
const MAX_NAME_VALUE: usize = 4096;

impl<'a> SetCookie<'a> {
    /// A session cookie `name=value` with no attributes.
    pub fn new(name: &'a str, value: &'a str) -> SetCookie<'a> {
        SetCookie {
            name,
            value,
            path: None,
            domain: None,
            expires: None,
            max_age: None,
            secure: false,
            http_only: false,
            same_site: None,
            partitioned: false,
        }
    }

    /// A cookie that deletes `name`: an empty value, `Expires` at the
    /// epoch and `Max-Age=0`. Set the same `Path` and `Domain` as the
    /// cookie to delete.
    pub fn removal(name: &'a str) -> SetCookie<'a> {
        SetCookie::new(name, "")
            .expires(UNIX_EPOCH)
            .max_age(Duration::ZERO)
    }

    /// `Path`: the cookie is sent for this path and below.
    pub fn path(mut self, path: &'a str) -> Self {
        self.path = Some(path);
        self
    }

    /// `Domain`: the cookie is also sent to subdomains of this host (a
    /// leading `.` is allowed and ignored by browsers).
    pub fn domain(mut self, domain: &'a str) -> Self {
        self.domain = Some(domain);
        self
    }

    /// `Expires`, written as an HTTP date; times before 1970 are written as
    /// the epoch.
    pub fn expires(mut self, at: SystemTime) -> Self {
        self.expires = Some(at);
        self
    }

    /// `Max-Age` in whole seconds (takes precedence over `Expires` in
    /// browsers); zero deletes the cookie.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// `Secure`: sent over HTTPS only.
    pub fn secure(mut self) -> Self {
        self.secure = true;
        self
    }

    /// `HttpOnly`: hidden from scripts.
    pub fn http_only(mut self) -> Self {
        self.http_only = true;
        self
    }

    /// `SameSite`.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = Some(same_site);
        self
    }

    /// `Partitioned` (CHIPS: stored per top-level site); requires `Secure`.
    pub fn partitioned(mut self) -> Self {
        self.partitioned = true;
        self
    }

    /// The cookie's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The cookie's value.
    pub fn value(&self) -> &'a str {
        self.value
    }

    /// Checks the cookie against RFC 6265 and the browsers' rules.
    pub fn validate(&self) -> Result<(), CookieError> {
        if self.name.is_empty() || !self.name.bytes().all(is_tchar) {
            return Err(CookieError::InvalidName);
        }
        if !is_cookie_value(self.value.as_bytes()) {
            return Err(CookieError::InvalidValue);
        }
        if self.name.len() + self.value.len() > MAX_NAME_VALUE {
            return Err(CookieError::TooLarge);
        }
        if let Some(p) = self.path {
            let ok = p.starts_with('/') && p.bytes().all(|b| b != b';' && !b.is_ascii_control());
            if !ok {
                return Err(CookieError::InvalidPath);
            }
        }
        if let Some(d) = self.domain {
            if !is_domain(d) {
                return Err(CookieError::InvalidDomain);
            }
        }
        if self.same_site == Some(SameSite::None) && !self.secure {
            return Err(CookieError::SameSiteNoneWithoutSecure);
        }
        if self.partitioned && !self.secure {
            return Err(CookieError::PartitionedWithoutSecure);
        }
        // Cookie prefixes (RFC 6265bis §4.1.3), case-sensitive as browsers
        // check them.
        if self.name.starts_with("__Secure-") && !self.secure
            || self.name.starts_with("__Host-")
                && (!self.secure || self.path != Some("/") || self.domain.is_some())
        {
            return Err(CookieError::PrefixRules);
        }
        Ok(())
    }

    /// Validates the cookie and appends its header value to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), CookieError> {
        self.validate()?;
        out.extend_from_slice(self.name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(self.value.as_bytes());
        if let Some(p) = self.path {
            out.extend_from_slice(b"; Path=");
            out.extend_from_slice(p.as_bytes());
        }
        if let Some(d) = self.domain {
            out.extend_from_slice(b"; Domain=");
            out.extend_from_slice(d.as_bytes());
        }
        if let Some(at) = self.expires {
            let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            out.extend_from_slice(b"; Expires=");
            out.extend_from_slice(&brisk_http::date::format_http_date(secs));
        }
        if let Some(age) = self.max_age {
            out.extend_from_slice(b"; Max-Age=");
            out.extend_from_slice(age.as_secs().to_string().as_bytes());
        }
        if self.secure {
            out.extend_from_slice(b"; Secure");
        }
        if self.http_only {
            out.extend_from_slice(b"; HttpOnly");
        }
        if let Some(s) = self.same_site {
            out.extend_from_slice(match s {
                SameSite::Strict => b"; SameSite=Strict",
                SameSite::Lax => b"; SameSite=Lax",
                SameSite::None => b"; SameSite=None",
            });
        }
        if self.partitioned {
            out.extend_from_slice(b"; Partitioned");
        }
        Ok(())
    }

    /// The validated header value.
    pub fn to_header_value(&self) -> Result<Vec<u8>, CookieError> {
        let mut out = Vec::with_capacity(self.name.len() + self.value.len() + 64);
        self.write_to(&mut out)?;
        Ok(out)
    }
}

impl CookieExt for RequestCtx<'_> {
    fn set_cookie(&mut self, cookie: &SetCookie<'_>) -> Result<(), CookieError> {
        let value = cookie.to_header_value()?;
        // Validated above: a token name and a value without CR, LF or NUL.
        self.add_header(b"Set-Cookie", &value)
            .map_err(|_| CookieError::InvalidValue)
    }

    fn remove_cookie(&mut self, removal: SetCookie<'_>) -> Result<(), CookieError> {
        self.set_cookie(&removal)
    }
}

impl fmt::Display for CookieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CookieError::InvalidName => "cookie name is empty or not a token (RFC 9110 tchar)",
            CookieError::InvalidValue => {
                "cookie value holds a byte outside cookie-octets (RFC 6265): encode it first"
            }
            CookieError::InvalidPath => {
                "cookie path must start with '/' and hold no ';' or control byte"
            }
            CookieError::InvalidDomain => "cookie domain is not a host name",
            CookieError::TooLarge => "cookie name and value exceed 4096 bytes",
            CookieError::SameSiteNoneWithoutSecure => "SameSite=None requires Secure",
            CookieError::PartitionedWithoutSecure => "Partitioned requires Secure",
            CookieError::PrefixRules => {
                "__Secure- cookies require Secure; __Host- cookies require Secure, Path=/ and no Domain"
            }
        })
    }
}

impl std::error::Error for CookieError {}

/// RFC 9110 tchar.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 6265 cookie-octet: `%x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// RFC 6265 cookie-value: `*cookie-octet / DQUOTE *cookie-octet DQUOTE`.
fn is_cookie_value(v: &[u8]) -> bool {
    let inner = match v {
        [b'"', inner @ .., b'"'] => inner,
        _ => v,
    };
    inner.iter().all(|&b| is_cookie_octet(b))
}

/// A host name: dot-separated labels of letters, digits and `-` (not at a
/// label's ends), an optional leading dot.
fn is_domain(d: &str) -> bool {
    let d = d.strip_prefix('.').unwrap_or(d);
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(c: SetCookie<'_>, expect: Result<&str, CookieError>) {
        let got = c.to_header_value();
        match expect {
            Ok(s) => assert_eq!(
                String::from_utf8(got.expect("valid cookie")).unwrap(),
                s,
                "{c:?}"
            ),
            Err(e) => assert_eq!(got, Err(e), "{c:?}"),
        }
    }

    #[test]
    fn attributes_in_order() {
        check(SetCookie::new("a", "1"), Ok("a=1"));
        check(SetCookie::new("a", ""), Ok("a="));
        check(SetCookie::new("a", "\"q\""), Ok("a=\"q\""));
        check(
            SetCookie::new("id", "x")
                .partitioned()
                .same_site(SameSite::None)
                .secure()
                .http_only()
                .max_age(Duration::from_millis(90_500))
                .expires(UNIX_EPOCH + Duration::from_secs(784_111_777))
                .domain(".example.com")
                .path("/app"),
            Ok(
                "id=x; Path=/app; Domain=.example.com; Expires=Sun, 06 Nov 1994 08:49:37 GMT; \
                Max-Age=90; Secure; HttpOnly; SameSite=None; Partitioned",
            ),
        );
        check(
            SetCookie::new("s", "v").same_site(SameSite::Strict),
            Ok("s=v; SameSite=Strict"),
        );
        check(
            SetCookie::new("old", "v").expires(UNIX_EPOCH - Duration::from_secs(5)),
            Ok("old=v; Expires=Thu, 01 Jan 1970 00:00:00 GMT"),
        );
        check(
            SetCookie::removal("sid").domain("example.com"),
            Ok("sid=; Domain=example.com; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"),
        );
    }

    #[test]
    fn invalid_names_and_values() {
        use CookieError::*;
        for name in ["", "a b", "a;b", "a=b", "é", "a\r\nX: y", "(a)"] {
            check(SetCookie::new(name, "v"), Err(InvalidName));
        }
        for value in [
            "a b", "a;b", "a,b", "a\\b", "\"", "\"a", "a\"b", "é", "a\nb", "\x7f",
        ] {
            check(SetCookie::new("n", value), Err(InvalidValue));
        }
        let long = "x".repeat(4096);
        check(SetCookie::new("n", &long), Err(TooLarge));
        check(
            SetCookie::new("n", &long[1..]),
            Ok(&format!("n={}", &long[1..])),
        );
    }

    #[test]
    fn invalid_attributes() {
        use CookieError::*;
        for p in ["", "app", "/a;b", "/a\nb"] {
            check(SetCookie::new("n", "v").path(p), Err(InvalidPath));
        }
        for d in [
            "",
            ".",
            "a..b",
            "-a.com",
            "a-.com",
            "a b.com",
            "a;b",
            "ex_ample.com",
        ] {
            check(SetCookie::new("n", "v").domain(d), Err(InvalidDomain));
        }
        check(
            SetCookie::new("n", "v").same_site(SameSite::None),
            Err(SameSiteNoneWithoutSecure),
        );
        check(
            SetCookie::new("n", "v").partitioned(),
            Err(PartitionedWithoutSecure),
        );
        check(SetCookie::new("__Secure-a", "v"), Err(PrefixRules));
        check(
            SetCookie::new("__Secure-a", "v").secure(),
            Ok("__Secure-a=v; Secure"),
        );
        check(SetCookie::new("__Host-a", "v").secure(), Err(PrefixRules));
        check(
            SetCookie::new("__Host-a", "v")
                .secure()
                .path("/")
                .domain("a.com"),
            Err(PrefixRules),
        );
        check(
            SetCookie::new("__Host-a", "v").secure().path("/"),
            Ok("__Host-a=v; Path=/; Secure"),
        );
    }

    proptest::proptest! {
        /// Whatever the input, a cookie that validates is one header line
        /// whose `name=value` a Cookie header parser reads back.
        #[test]
        fn valid_cookies_read_back(
            name in proptest::prop_oneof![
                "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,8}",
                "[ -~\u{80}-\u{ff}]{0,12}",
            ],
            value in proptest::prop_oneof![
                r#""?[!#-+\--:<-\[\]-~]{0,8}"?"#,
                "[ -~\r\n\u{80}-\u{ff}]{0,12}",
            ],
            path in proptest::option::of("[ -~\r\n]{0,8}"),
        ) {
            let mut c = SetCookie::new(&name, &value);
            if let Some(p) = &path {
                c = c.path(p);
            }
            match c.to_header_value() {
                Ok(v) => {
                    proptest::prop_assert!(brisk_http::is_valid_header_value(&v));
                    let first = v.split(|&b| b == b';').next().unwrap();
                    let got: Vec<_> = brisk_http::parse_cookies(first)
                        .map(|(n, x)| (n.get(first).to_vec(), x.get(first).to_vec()))
                        .collect();
                    let unquoted = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(&value);
                    proptest::prop_assert_eq!(got, vec![(name.as_bytes().to_vec(), unquoted.as_bytes().to_vec())]);
                }
                Err(_) => proptest::prop_assert!(c.validate().is_err()),
            }
        }
    }

    #[test]
    fn every_error_has_a_message() {
        use CookieError::*;
        for e in [
            InvalidName,
            InvalidValue,
            InvalidPath,
            InvalidDomain,
            TooLarge,
            SameSiteNoneWithoutSecure,
            PartitionedWithoutSecure,
            PrefixRules,
        ] {
            assert!(!e.to_string().is_empty());
        }
    }
}
