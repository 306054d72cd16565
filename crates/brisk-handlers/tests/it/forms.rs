//! Typed form getters over a real connection: values, errors naming the
//! argument, limits.

use brisk_handlers::form::{Form, FormExt, FormLimits};
use brisk_server::RequestCtx;

use crate::support::TestServer;

fn handler(ctx: &mut RequestCtx<'_>) {
    let r = (|| {
        let q = if ctx.path() == b"/strict" {
            Form::new(
                ctx.query_string(),
                FormLimits::default().max_args(3).max_value_len(8),
            )?
        } else {
            ctx.query_form()?
        };
        let page = q.get_u64("page")?.unwrap_or(1);
        let q_text = q.get_str("q")?.unwrap_or_default().into_owned();
        let tags = q.get_all("tag")?.join(",");
        let debug = q.get_bool("debug")?.unwrap_or(false);
        let post = ctx.post_form()?;
        let amount = post.get_f64("amount")?;
        let delta = post.get_i64("delta")?;
        Ok::<_, brisk_handlers::form::FormError>(format!(
            "page={page} q={q_text} tags={tags} debug={debug} amount={amount:?} delta={delta:?}"
        ))
    })();
    match r {
        Ok(s) => ctx.set_body_string(&s),
        Err(e) => ctx.error(&e.to_string(), e.status()),
    }
}

#[test]
fn typed_query_and_post_args() {
    let server = TestServer::start(handler, |b| b);
    let mut c = server.connect();
    let r = c.get("/?page=3&q=caf%C3%A9+au+lait&tag=a&tag=b%20c&debug");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "page=3 q=café au lait tags=a,b c debug=true amount=None delta=None"
    );
    let r = c.post(
        "/?page=1",
        "application/x-www-form-urlencoded",
        b"amount=12.5&delta=-4",
    );
    assert_eq!(
        r.text(),
        "page=1 q= tags= debug=false amount=Some(12.5) delta=Some(-4)"
    );
    // A body of another type is not read as a form.
    let r = c.post("/", "text/plain", b"amount=x");
    assert_eq!(r.status, 200);
    assert!(r.text().ends_with("amount=None delta=None"));
}

#[test]
fn errors_name_the_argument() {
    let server = TestServer::start(handler, |b| b);
    let mut c = server.connect();
    for (target, msg) in [
        ("/?page=x", "form argument `page`: not an unsigned integer"),
        ("/?page=-1", "form argument `page`: not an unsigned integer"),
        ("/?q=%FF", "form argument `q`: not UTF-8"),
        ("/?tag=ok&tag=%C3", "form argument `tag`: not UTF-8"),
        ("/?debug=maybe", "form argument `debug`: not a boolean"),
    ] {
        let r = c.get(target);
        assert_eq!((r.status, r.text()), (400, msg), "{target}");
    }
    let r = c.post("/", "application/x-www-form-urlencoded", b"amount=NaN");
    assert_eq!(
        (r.status, r.text()),
        (400, "form argument `amount`: not a number")
    );
    let r = c.post("/", "application/x-www-form-urlencoded", b"delta=1.5");
    assert_eq!(
        (r.status, r.text()),
        (400, "form argument `delta`: not an integer")
    );
}

#[test]
fn limits_answer_413() {
    let server = TestServer::start(handler, |b| b);
    let mut c = server.connect();
    assert_eq!(c.get("/strict?a=1&b=2&q=x").status, 200);
    let r = c.get("/strict?a=1&b=2&c=3&q=x");
    assert_eq!(
        (r.status, r.text()),
        (413, "form has more than 3 arguments")
    );
    let r = c.get("/strict?q=%41%41%41%41%41%41%41%41%41");
    assert_eq!(
        (r.status, r.text()),
        (413, "form argument `q`: longer than 8 bytes")
    );
}
