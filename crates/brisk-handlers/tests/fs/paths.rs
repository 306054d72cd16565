//! Attack paths: dot segments raw, encoded and double-encoded, `//`, NUL,
//! backslashes, hidden files, FIFOs, and symbolic links out of and inside
//! the root under each policy.

use brisk_handlers::fs::{FileServer, Symlinks};

use crate::support::{TempDir, TestServer};

struct Tree {
    _outside: TempDir,
    root: TempDir,
}

fn tree() -> Tree {
    let outside = TempDir::new("outside");
    outside.write("secret.txt", b"outside secret");
    let root = TempDir::new("root");
    root.write("ok.txt", b"ok");
    root.write("sub/inner.txt", b"inner");
    root.write(".secret", b"hidden");
    root.write(".well-known/x", b"wk");
    let r = root.path();
    std::os::unix::fs::symlink(outside.path(), r.join("link_out")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), r.join("link_out_file")).unwrap();
    std::os::unix::fs::symlink("sub", r.join("link_in")).unwrap();
    std::os::unix::fs::symlink("ok.txt", r.join("link_file")).unwrap();
    std::os::unix::fs::symlink("/etc", r.join("etc")).unwrap();
    nix::unistd::mkfifo(&r.join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    Tree {
        _outside: outside,
        root,
    }
}

fn serve(t: &Tree, policy: Symlinks, hidden: bool) -> TestServer {
    let fs = FileServer::builder(t.root.path())
        .symlinks(policy)
        .hidden_files(hidden)
        .build()
        .unwrap();
    TestServer::start(move |ctx| {
        if let Some(rest) = ctx.path().strip_prefix(b"/raw") {
            // A handler passing its own path: the same checks apply.
            let p = ctx.query_arg(b"p").unwrap_or(rest).to_vec();
            fs.serve_path(ctx, &p);
        } else {
            fs.serve(ctx);
        }
    })
}

/// `(target, status with Refuse, WithinRoot, Follow)`.
const TABLE: &[(&str, u16, u16, u16)] = &[
    ("/ok.txt", 200, 200, 200),
    ("/%6fk.txt", 200, 200, 200),
    ("/sub/inner.txt", 200, 200, 200),
    ("//sub//inner.txt", 200, 200, 200),
    ("/sub/./inner.txt", 200, 200, 200),
    ("/sub/../ok.txt", 200, 200, 200),
    // Dot segments that climb above the root stop at it (the server's
    // normalization, RFC 3986 §5.2.4), raw or encoded: still under the
    // root (`/etc` here is the root's `etc` link, followed only by Follow).
    ("/../ok.txt", 200, 200, 200),
    ("/%2e%2e/ok.txt", 200, 200, 200),
    ("/sub/../../outside/secret.txt", 404, 404, 404),
    ("/%2E%2e%2fetc%2fpasswd", 404, 404, 200),
    ("/sub%2f..%2f..%2fetc/passwd", 404, 404, 200),
    ("/.%2e/.%2e/etc/passwd", 404, 404, 200),
    // Decoded once: `%2e%2e` is a plain (missing) name.
    ("/%252e%252e/%252e%252e/etc/passwd", 404, 404, 404),
    ("//etc/passwd", 404, 404, 200),
    ("/ok.txt%00.png", 400, 400, 400),
    ("/sub%5c..%5c..%5cetc", 400, 400, 400),
    ("/%c0%ae%c0%ae/etc/passwd", 400, 400, 400),
    ("/.secret", 404, 404, 404),
    ("/sub/../.secret", 404, 404, 404),
    ("/.well-known/x", 404, 404, 404),
    ("/pipe", 404, 404, 404),
    ("/ok.txt/", 404, 404, 404),
    // Links out of the root, and inside it.
    ("/link_out/secret.txt", 404, 404, 200),
    ("/link_out_file", 404, 404, 200),
    ("/etc/passwd", 404, 404, 200),
    ("/link_in/inner.txt", 404, 200, 200),
    ("/link_file", 404, 200, 200),
    // A handler's own path gets the same checks.
    ("/raw?p=/../ok.txt", 400, 400, 400),
    ("/raw?p=/sub/%2e%2e", 404, 404, 404),
    ("/raw?p=/ok.txt", 200, 200, 200),
];

#[test]
fn traversal_table() {
    let t = tree();
    let etc_passwd = std::path::Path::new("/etc/passwd").is_file();
    for (policy, col) in [
        (Symlinks::Refuse, 1),
        (Symlinks::WithinRoot, 2),
        (Symlinks::Follow, 3),
    ] {
        let s = serve(&t, policy, false);
        for &(target, a, b, c) in TABLE {
            let want = [0, a, b, c][col];
            if target.contains("etc") && want == 200 && !etc_passwd {
                continue;
            }
            let r = s.get(target, &[]);
            assert_eq!(r.status, want, "{policy:?} {target}: {}", r.text());
            if want == 200 {
                assert!(!r.text().contains("hidden"));
            }
        }
    }
}

#[test]
fn hidden_files_when_allowed() {
    let t = tree();
    let s = serve(&t, Symlinks::Refuse, true);
    assert_eq!(s.get("/.secret", &[]).text(), "hidden");
    assert_eq!(s.get("/.well-known/x", &[]).text(), "wk");
    assert_eq!(
        s.get("/%2e%2e/.secret", &[]).text(),
        "hidden",
        "clamped at the root"
    );
}
