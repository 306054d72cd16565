//! brisk::handlers at work: typed query arguments, multipart uploads to
//! temporary files, cookies, and a deadline around a slow handler.
//!
//! `cargo run --release -p brisk --example forms -- --port 8080`, then:
//!
//! - `curl '127.0.0.1:8080/search?q=rust&page=2'` (`page=x`: 400 naming it)
//! - `curl -F title=notes -F doc=@Cargo.toml 127.0.0.1:8080/upload`
//!   (files over 10 MiB: 413)
//! - `curl -c jar 127.0.0.1:8080/login`, `curl -b jar 127.0.0.1:8080/whoami`,
//!   `curl -b jar -c jar 127.0.0.1:8080/logout`
//! - `curl '127.0.0.1:8080/report?ms=3000'`: 503 after 1 s (`ms=100`: 200)
//!
//! `--port 0`: any free port; `--loops N`: event loops (default one per core).

#[path = "common/args.rs"]
mod args;

use std::process::ExitCode;
use std::time::Duration;

use brisk::RequestCtx;
use brisk::handlers::cookie::{CookieExt, SameSite, SetCookie};
use brisk::handlers::form::FormExt;
use brisk::handlers::multipart::{Multipart, MultipartLimits};
use brisk::handlers::timeout::timeout;

fn main() -> ExitCode {
    let args = args::parse("forms", true);
    let report = timeout(report, Duration::from_secs(1));
    let builder = brisk::Server::builder()
        .stream_request_body(true)
        .max_request_body_size(64 << 20)
        .handler(move |ctx| match ctx.path() {
            b"/search" => search(ctx),
            b"/upload" => upload(ctx),
            b"/login" | b"/logout" | b"/whoami" => session(ctx),
            b"/report" => report(ctx),
            _ => ctx.error(
                "try /search, /upload, /login, /whoami, /logout or /report\n",
                404,
            ),
        });
    args::serve("forms", builder, &args)
}

fn search(ctx: &mut RequestCtx<'_>) {
    let r = ctx.query_form().and_then(|f| {
        let q = f.get_str("q")?.unwrap_or_default().into_owned();
        Ok((q, f.get_u64("page")?.unwrap_or(1)))
    });
    match r {
        Ok((q, page)) => ctx.set_body_string(&format!("results for {q:?}, page {page}\n")),
        Err(e) => ctx.error(&format!("{e}\n"), e.status()),
    }
}

fn upload(ctx: &mut RequestCtx<'_>) {
    let limits = MultipartLimits::default().max_file_size(10 << 20);
    let form = match Multipart::new(limits).read(ctx) {
        Ok(form) => form,
        Err(e) => return ctx.error(&format!("{e}\n"), e.status()),
    };
    let mut out = String::new();
    for f in form.fields() {
        out += &format!("field {}: {} bytes\n", f.name(), f.value().len());
    }
    for f in form.files() {
        // Each file is in a temporary file, removed when `form` drops;
        // `persist` would keep it.
        out += &format!(
            "file {}: {:?}, {} bytes\n",
            f.name(),
            f.filename(),
            f.size()
        );
    }
    ctx.set_body_string(&out);
}

fn session(ctx: &mut RequestCtx<'_>) {
    let r = match ctx.path() {
        b"/login" => ctx.set_cookie(
            &SetCookie::new("sid", "demo-session")
                .path("/")
                .http_only()
                .same_site(SameSite::Lax)
                .max_age(Duration::from_secs(3600)),
        ),
        b"/logout" => ctx.remove_cookie(SetCookie::removal("sid").path("/")),
        _ => {
            let who = String::from_utf8_lossy(ctx.cookie(b"sid").unwrap_or(b"nobody")).into_owned();
            ctx.set_body_string(&format!("session: {who}\n"));
            Ok(())
        }
    };
    if let Err(e) = r {
        ctx.error(&format!("{e}\n"), 500);
    }
}

/// A slow report: sleeps `ms` milliseconds (think of a slow database).
fn report(ctx: &mut RequestCtx<'_>) {
    let ms = ctx
        .query_form()
        .and_then(|f| f.get_u64("ms"))
        .ok()
        .flatten()
        .unwrap_or(100)
        .min(60_000);
    std::thread::sleep(Duration::from_millis(ms));
    ctx.set_body_string(&format!("report done after {ms} ms\n"));
}
