//! Set-Cookie over a real connection, as written and as curl's cookie jar
//! reads it; removal; invalid cookies are errors, never headers.

use std::time::{Duration, SystemTime};

use brisk_handlers::cookie::{CookieExt, SameSite, SetCookie};
use brisk_server::RequestCtx;

use crate::support::{TestServer, have_curl};

fn handler(ctx: &mut RequestCtx<'_>) {
    let r = match ctx.path() {
        b"/login" => ctx
            .set_cookie(
                &SetCookie::new("sid", "s3cr3t")
                    .path("/")
                    .http_only()
                    .same_site(SameSite::Lax)
                    .max_age(Duration::from_secs(3600)),
            )
            .and_then(|()| {
                ctx.set_cookie(
                    &SetCookie::new("theme", "dark")
                        .path("/app")
                        .expires(SystemTime::now() + Duration::from_secs(86_400)),
                )
            }),
        b"/logout" => ctx.remove_cookie(SetCookie::removal("sid").path("/")),
        b"/whoami" => {
            let who = ctx.cookie(b"sid").unwrap_or(b"nobody").to_vec();
            ctx.set_body(&who);
            Ok(())
        }
        b"/bad" => ctx.set_cookie(&SetCookie::new("a", "semi;colon")),
        _ => Ok(()),
    };
    if let Err(e) = r {
        ctx.error(&e.to_string(), 500);
    }
}

#[test]
fn set_cookie_headers_as_written() {
    let server = TestServer::start(handler, |b| b);
    let mut c = server.connect();
    let r = c.get("/login");
    assert_eq!(r.status, 200);
    let cookies: Vec<&str> = r.headers_named("set-cookie").collect();
    assert_eq!(cookies.len(), 2, "{:?}", r.headers);
    assert_eq!(
        cookies[0],
        "sid=s3cr3t; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax"
    );
    assert!(cookies[1].starts_with("theme=dark; Path=/app; Expires="));
    assert!(cookies[1].ends_with(" GMT"));
    let r = c.get("/logout");
    assert_eq!(
        r.header("set-cookie"),
        Some("sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0")
    );
    let r = c.get("/bad");
    assert_eq!(r.status, 500);
    assert!(r.header("set-cookie").is_none());
    assert!(r.text().contains("cookie-octets"), "{}", r.text());
}

#[test]
fn curl_cookie_jar_reads_them() {
    if !have_curl() {
        eprintln!("note: curl is not installed; skipping the cookie-jar test");
        return;
    }
    let server = TestServer::start(handler, |b| b);
    let jar = std::env::temp_dir().join(format!("brisk-cookie-jar-{}", std::process::id()));
    let _ = std::fs::remove_file(&jar);
    let curl = |path: &str| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "-b"])
            .arg(&jar)
            .arg("-c")
            .arg(&jar)
            .arg(server.url(path))
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    curl("/login");
    // Netscape format: domain, subdomains, path, secure, expiry, name, value;
    // HttpOnly cookies are prefixed `#HttpOnly_`.
    let text = std::fs::read_to_string(&jar).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.is_empty() && (!l.starts_with('#') || l.starts_with("#HttpOnly_")))
        .map(|l| l.split('\t').collect())
        .collect();
    let sid = rows.iter().find(|r| r[5] == "sid").expect("sid in the jar");
    assert!(sid[0].starts_with("#HttpOnly_"), "{sid:?}");
    assert_eq!((sid[2], sid[3], sid[6]), ("/", "FALSE", "s3cr3t"));
    let expiry: u64 = sid[4].parse().unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        expiry > now + 3000 && expiry <= now + 3700,
        "{expiry} vs {now}"
    );
    let theme = rows
        .iter()
        .find(|r| r[5] == "theme")
        .expect("theme in the jar");
    assert_eq!((theme[2], theme[6]), ("/app", "dark"));
    // curl sends it back; the server reads it.
    assert_eq!(curl("/whoami"), "s3cr3t");
    // Removal: gone from the jar.
    curl("/logout");
    let text = std::fs::read_to_string(&jar).unwrap();
    assert!(!text.contains("s3cr3t"), "{text}");
    assert_eq!(curl("/whoami"), "nobody");
    std::fs::remove_file(&jar).unwrap();
}
