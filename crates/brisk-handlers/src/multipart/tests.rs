use proptest::prelude::*;

use super::*;

/// A part as the parser reports it: headers and all its content.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Got {
    info: PartInfo,
    data: Vec<u8>,
}

/// Parses `body` pushed in pieces cut at `cuts`; returns the parts or the
/// error's text.
fn parse_cut(
    boundary: &[u8],
    body: &[u8],
    cuts: &[usize],
    limits: MultipartLimits,
) -> Result<Vec<Got>, String> {
    let mut p = MultipartParser::new(boundary, limits).map_err(|e| e.to_string())?;
    let mut parts: Vec<Got> = Vec::new();
    let mut open = false;
    let mut on = |ev: Event<'_>| {
        match ev {
            Event::Part(info) => {
                assert!(!open, "part started inside a part");
                open = true;
                parts.push(Got {
                    info: info.clone(),
                    data: Vec::new(),
                });
            }
            Event::Data(d) => {
                assert!(open, "data outside a part");
                assert!(!d.is_empty(), "empty data event");
                parts.last_mut().unwrap().data.extend_from_slice(d);
            }
            Event::PartEnd => {
                assert!(open, "part end outside a part");
                open = false;
            }
        }
        Ok(())
    };
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(body.len())).collect();
    cuts.sort_unstable();
    let mut from = 0;
    for c in cuts.into_iter().chain([body.len()]) {
        p.push(&body[from..c], &mut on).map_err(|e| e.to_string())?;
        from = c;
    }
    p.finish().map_err(|e| e.to_string())?;
    Ok(parts)
}

fn parse(body: &[u8]) -> Result<Vec<Got>, String> {
    parse_cut(b"B", body, &[], MultipartLimits::default())
}

fn part(name: &str, filename: Option<&str>, ct: Option<&str>, data: &[u8]) -> Got {
    Got {
        info: PartInfo {
            name: name.into(),
            filename: filename.map(Into::into),
            content_type: ct.map(Into::into),
        },
        data: data.to_vec(),
    }
}

/// A body with `parts` separated by `boundary`.
fn encode(boundary: &str, parts: &[Got], preamble: &[u8], epilogue: &[u8]) -> Vec<u8> {
    let mut out = preamble.to_vec();
    if !preamble.is_empty() {
        out.extend_from_slice(b"\r\n");
    }
    for p in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        out.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{}\"", p.info.name).as_bytes(),
        );
        if let Some(f) = &p.info.filename {
            out.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if let Some(ct) = &p.info.content_type {
            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&p.data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--").as_bytes());
    out.extend_from_slice(epilogue);
    out
}

#[test]
fn a_simple_form() {
    let body = b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n\
                 --B\r\ncontent-disposition: form-data; name=b; filename=\"x y.txt\"\r\n\
                 Content-Type: text/plain\r\nX-Other: ignored\r\n\r\nline1\r\nline2\r\n--B--\r\n";
    assert_eq!(
        parse(body).unwrap(),
        [
            part("a", None, None, b"1"),
            part("b", Some("x y.txt"), Some("text/plain"), b"line1\r\nline2"),
        ]
    );
}

#[test]
fn preamble_padding_epilogue_and_empty_parts() {
    let body = b"preamble\r\n--B \t\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n\r\n\
                 --B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\r\n\r\n\r\n\
                 --B--  epilogue \r\n--B\r\n";
    assert_eq!(
        parse(body).unwrap(),
        [part("e", None, None, b""), part("f", Some(""), None, b"")]
    );
    // No part at all (an empty form as browsers send it).
    assert_eq!(parse(b"--B--\r\n").unwrap(), []);
}

#[test]
fn content_that_looks_like_a_boundary() {
    let data = b"\r\n--\r\n-B\r\n--C\r\n--b\r--B";
    // "\r\n--B" inside data ends the part: the sender must pick a boundary
    // that does not occur. Everything short of it is content.
    let body = encode(
        "B",
        &[part("a", None, None, &data[..data.len() - 4])],
        b"",
        b"",
    );
    assert_eq!(
        parse(&body).unwrap(),
        [part("a", None, None, &data[..data.len() - 4])]
    );
}

#[test]
fn quoted_parameters() {
    let body = b"--B\r\nContent-Disposition: form-data; filename=\"a\\\"b\\\\c\\d.txt\" ; name=\"n;m\"\r\n\r\n\
                 x\r\n--B--";
    assert_eq!(
        parse(body).unwrap(),
        [part("n;m", Some("a\"b\\c\\d.txt"), None, b"x")]
    );
}

#[test]
fn malformed_bodies() {
    let cd = "Content-Disposition: form-data; name=\"a\"";
    for (body, err) in [
        (
            format!("--B\r\n{cd}\r\n\r\nx"),
            "ended before its final boundary",
        ),
        (String::new(), "ended before its final boundary"),
        ("no boundary here".into(), "ended before its final boundary"),
        (
            format!("--Bx\r\n{cd}\r\n\r\nx\r\n--B--"),
            "text after the boundary",
        ),
        (
            format!("--B -\r\n{cd}\r\n\r\nx\r\n--B--"),
            "text after the boundary",
        ),
        (
            format!("--B\r\r\n{cd}\r\n\r\nx\r\n--B--"),
            "text after the boundary",
        ),
        ("--B\r\n\r\nx\r\n--B--".into(), "no Content-Disposition"),
        (
            "--B\r\nContent-Type: a\r\n\r\nx\r\n--B--".into(),
            "no Content-Disposition",
        ),
        (
            "--B\r\nContent-Disposition: attachment; name=a\r\n\r\n\r\n--B--".into(),
            "not form-data",
        ),
        (
            "--B\r\nContent-Disposition: form-data\r\n\r\n\r\n--B--".into(),
            "has no name",
        ),
        (
            "--B\r\nContent-Disposition: form-data; name=\"a\r\n\r\n\r\n--B--".into(),
            "unterminated",
        ),
        (
            "--B\r\nContent-Disposition: form-data; name\r\n\r\n\r\n--B--".into(),
            "without '='",
        ),
        (
            "--B\r\nContent-Disposition: form-data, name=a\r\n\r\n\r\n--B--".into(),
            "not form-data",
        ),
        (format!("--B\r\n{cd}\r\n folded\r\n\r\n\r\n--B--"), "folded"),
        (
            format!("--B\r\n{cd}\nX: y\r\n\r\n\r\n--B--"),
            "bare CR or LF",
        ),
        (
            format!("--B\r\n{cd}\rX: y\r\n\r\n\r\n--B--"),
            "bare CR or LF",
        ),
        (format!("--B\r\n{cd}\r\r\n\r\n\r\n--B--"), "bare CR or LF"),
        (
            format!("--B\r\n{cd}\r\nno colon\r\n\r\n\r\n--B--"),
            "without ':'",
        ),
        (
            format!("--B\r\n{cd}\r\n{cd}\r\n\r\n\r\n--B--"),
            "more than one",
        ),
        (
            format!("--B\r\n{cd}\r\nBad Name: v\r\n\r\n\r\n--B--"),
            "not a token",
        ),
    ] {
        let got = parse(body.as_bytes());
        assert!(
            got.as_ref().is_err_and(|e| e.contains(err)),
            "{body:?}: {got:?}, expected {err:?}"
        );
    }
    assert!(
        parse(b"--B\r\nContent-Disposition: form-data; name=\"\xff\"\r\n\r\n\r\n--B--")
            .unwrap_err()
            .contains("not UTF-8")
    );
}

#[test]
fn limits_say_which() {
    let parts = [
        part("a", None, None, b"12345"),
        part("f", Some("f.bin"), None, b"0123456789"),
        part("b", None, None, b"678"),
    ];
    let body = encode("B", &parts, b"", b"");
    let d = MultipartLimits::default();
    let check = |limits: MultipartLimits, expect: Option<Limit>| {
        let mut p = MultipartParser::new(b"B", limits).unwrap();
        let r = p.push(&body, &mut |_| Ok(())).and_then(|()| p.finish());
        match expect {
            None => assert!(r.is_ok(), "{limits:?}: {r:?}"),
            Some(l) => {
                let e = r.unwrap_err();
                assert_eq!(e.limit(), Some(l), "{limits:?}");
                assert_eq!(e.status(), 413);
            }
        }
    };
    check(d, None);
    check(d.max_parts(3), None);
    check(d.max_parts(2), Some(Limit::Parts(2)));
    check(d.max_field_size(5), None);
    check(d.max_field_size(4), Some(Limit::FieldSize(4)));
    check(d.max_fields_size(8), None);
    check(d.max_fields_size(7), Some(Limit::FieldsSize(7)));
    check(d.max_file_size(10), None);
    check(d.max_file_size(9), Some(Limit::FileSize(9)));
    check(d.max_total_size(body.len() as u64), None);
    check(
        d.max_total_size(body.len() as u64 - 1),
        Some(Limit::TotalSize(body.len() as u64 - 1)),
    );
    // The first part's header block: the disposition line and the empty line.
    let head = "Content-Disposition: form-data; name=\"a\"\r\n\r\n".len();
    let mut big = d.max_header_size(head);
    big = big.max_parts(3);
    check(big.max_header_size(head + 20), None);
    check(
        d.max_header_size(head - 1),
        Some(Limit::HeaderSize(head - 1)),
    );
    // Headers that never end stop at the limit, fed in small pieces.
    let endless = [b"--B\r\nX: ".as_slice(), &[b'y'; 100]].concat();
    let r = parse_cut(b"B", &endless, &[7, 20, 21, 50], d.max_header_size(64));
    assert!(r.unwrap_err().contains("larger than 64 bytes"));
}

#[test]
fn boundaries() {
    for ok in [
        &b"B"[..],
        b"----WebKitFormBoundary7MA4YWxkTrZu0gW",
        b"a'()+_,-./:=? b",
        &[b'x'; 70],
    ] {
        assert!(MultipartParser::new(ok, MultipartLimits::default()).is_ok());
    }
    for bad in [
        &b""[..],
        b"a ",
        b"a\rb",
        b"a\"b",
        b"a;b",
        &[b'x'; 71],
        b"\xc3\xa9",
    ] {
        assert!(matches!(
            MultipartParser::new(bad, MultipartLimits::default()),
            Err(MultipartError::InvalidBoundary)
        ));
    }
    assert_eq!(
        boundary_of(b"multipart/form-data; boundary=abc").unwrap(),
        b"abc"
    );
    assert_eq!(
        boundary_of(b"Multipart/Form-Data ; charset=utf-8; BOUNDARY=\"a b:c\"").unwrap(),
        b"a b:c"
    );
    assert!(matches!(
        boundary_of(b"text/plain; boundary=a"),
        Err(MultipartError::NotMultipart)
    ));
    assert!(matches!(
        boundary_of(b""),
        Err(MultipartError::NotMultipart)
    ));
    assert!(matches!(
        boundary_of(b"multipart/form-data"),
        Err(MultipartError::MissingBoundary)
    ));
    assert!(matches!(
        boundary_of(b"multipart/form-data; charset=x"),
        Err(MultipartError::MissingBoundary)
    ));
    let e = MultipartParser::from_content_type(
        b"multipart/form-data; boundary=\"\"",
        MultipartLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, MultipartError::InvalidBoundary));
    assert_eq!(e.status(), 400);
}

#[test]
fn an_error_spends_the_parser() {
    let mut p = MultipartParser::new(b"B", MultipartLimits::default()).unwrap();
    let r = p.push(
        b"--B\r\nContent-Disposition: form-data; name=a\r\n\r\nx",
        &mut |ev| match ev {
            Event::Data(_) => Err(MultipartError::Write(io::Error::other("disk full"))),
            _ => Ok(()),
        },
    );
    assert!(matches!(r, Err(MultipartError::Write(_))));
    assert!(matches!(
        p.push(b"\r\n--B--", &mut |_| Ok(())),
        Err(MultipartError::AfterError)
    ));
    assert!(matches!(p.finish(), Err(MultipartError::AfterError)));
}

#[test]
fn reader_keeps_fields_and_streams_files() {
    let parts = [
        part("title", None, None, b"hello"),
        part(
            "doc",
            Some("d.bin"),
            Some("application/octet-stream"),
            &[7u8; 200_000],
        ),
        part("doc2", Some("e.txt"), None, b"small"),
    ];
    let body = encode("xyz", &parts, b"", b"\r\n");
    let ct = b"multipart/form-data; boundary=xyz";
    let dir = std::env::temp_dir();
    let m = Multipart::new(MultipartLimits::default());
    // From a reader, in the reader's pieces.
    let form = m
        .read_from(ct, &body[..], |_| TempFile::new_in(&dir))
        .unwrap();
    assert_eq!(form.text("title"), Some("hello"));
    assert_eq!(form.fields().len(), 1);
    let doc = form.file("doc").unwrap();
    assert_eq!(doc.size(), 200_000);
    assert_eq!(doc.filename(), "d.bin");
    assert_eq!(doc.info().content_type(), Some("application/octet-stream"));
    assert_eq!(doc.content().read_all().unwrap(), vec![7u8; 200_000]);
    let path = doc.content().path().to_owned();
    assert!(path.starts_with(&dir));
    assert!(path.exists());
    // Into memory writers, from bytes.
    let form2 = m.read_bytes(ct, &body, |_| Ok(Vec::new())).unwrap();
    assert_eq!(form2.file("doc2").unwrap().content(), b"small");
    // Persist one file, drop the rest: the temporary ones are removed.
    let mut files = form.into_files();
    let keep = files.remove(1);
    let kept_tmp = keep.content().path().to_owned();
    let target = dir.join(format!("brisk-test-persist-{}", std::process::id()));
    keep.into_content().persist(&target).unwrap();
    assert!(!kept_tmp.exists() && target.exists());
    assert_eq!(std::fs::read(&target).unwrap(), b"small");
    std::fs::remove_file(&target).unwrap();
    drop(files);
    assert!(!path.exists(), "temporary file left behind");
}

#[test]
fn reader_errors() {
    let m = Multipart::new(MultipartLimits::default().max_file_size(10));
    let body = encode("b", &[part("f", Some("f"), None, &[1; 11])], b"", b"");
    let made = std::cell::RefCell::new(Vec::new());
    let r = m.read_bytes(b"multipart/form-data; boundary=b", &body, |_| {
        let f = TempFile::new_in(&std::env::temp_dir())?;
        made.borrow_mut().push(f.path().to_owned());
        Ok(f)
    });
    assert!(matches!(
        r,
        Err(MultipartError::LimitExceeded(Limit::FileSize(10)))
    ));
    let made = made.into_inner();
    assert_eq!(made.len(), 1);
    assert!(!made[0].exists(), "the partial file is removed");
    let r = m.read_bytes(b"text/plain", b"", |_| Ok(Vec::new()));
    assert_eq!(r.unwrap_err().status(), 415);
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::TimedOut, "slow client"))
        }
    }
    let r = m.read_from(b"multipart/form-data; boundary=b", Failing, |_| {
        Ok(Vec::new())
    });
    let e = r.unwrap_err();
    assert_eq!(e.status(), 408);
    assert!(e.to_string().contains("slow client"));
}

fn arb_part() -> impl Strategy<Value = Got> {
    let name = "[a-z0-9_ ]{1,8}";
    let filename = proptest::option::of("[a-zA-Z0-9._ -]{0,8}");
    let ct = proptest::option::of(Just("text/plain".to_owned()));
    // Content rich in CR, LF, '-' and boundary letters.
    let data = proptest::collection::vec(
        prop_oneof![
            Just(b'\r'),
            Just(b'\n'),
            Just(b'-'),
            Just(b'b'),
            Just(b'q'),
            any::<u8>()
        ],
        0..64,
    );
    (name, filename, ct, data).prop_map(|(n, f, ct, data)| Got {
        info: PartInfo {
            name: n,
            filename: f,
            content_type: ct,
        },
        data,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any split of a generated body gives the same parts, and they are
    /// the parts that were encoded.
    #[test]
    fn any_split_gives_the_same_parts(
        parts in proptest::collection::vec(arb_part(), 0..5),
        preamble in "[a-z\r\n-]{0,12}",
        epilogue in "[a-z\r\n-]{0,12}",
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let boundary = "bq-b";
        // The sender's duty: the boundary does not occur in the content.
        let delim = b"\r\n--bq-b";
        let content_ok = parts.iter().all(|p| {
            let mut d = b"\r\n".to_vec();
            d.extend_from_slice(&p.data);
            d.extend_from_slice(b"\r\n");
            memmem::find(&d[..d.len() - 2], delim).is_none()
        }) && memmem::find(format!("\r\n{preamble}").as_bytes(), delim).is_none()
            && !preamble.ends_with('\r');
        prop_assume!(content_ok);
        let body = encode(boundary, &parts, preamble.as_bytes(), epilogue.as_bytes());
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        let whole = parse_cut(boundary.as_bytes(), &body, &[], MultipartLimits::default());
        prop_assert_eq!(&whole, &Ok(parts.clone()));
        let split = parse_cut(boundary.as_bytes(), &body, &cuts, MultipartLimits::default());
        prop_assert_eq!(split, whole);
        // Byte by byte too.
        let all: Vec<usize> = (0..body.len()).collect();
        prop_assert_eq!(parse_cut(boundary.as_bytes(), &body, &all, MultipartLimits::default()), Ok(parts));
    }

    /// Arbitrary bytes: never a panic, and the same outcome in any split.
    #[test]
    fn arbitrary_bytes_split_anywhere(
        body in proptest::collection::vec(prop_oneof![
            Just(b'\r'), Just(b'\n'), Just(b'-'), Just(b'B'), Just(b':'), Just(b';'),
            Just(b'"'), Just(b'='), any::<u8>()
        ], 0..200),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let limits = MultipartLimits::default()
            .max_header_size(40)
            .max_field_size(30)
            .max_fields_size(50)
            .max_file_size(40)
            .max_total_size(150);
        let whole = parse_cut(b"B", &body, &[], limits);
        let split = parse_cut(b"B", &body, &cuts, limits);
        prop_assert_eq!(split, whole);
    }
}
