//! The HTTP/1.x that svmetrics speaks: reading one request head from the
//! bytes received so far, and writing a response head. Pure functions,
//! fuzzed (`fuzz/fuzz_targets/svmetrics_request.rs`).
//!
//! Only what a scraper sends is understood: a request line `METHOD TARGET
//! HTTP/1.0|1.1` and header lines, ended by an empty line (CRLF, or bare
//! LF as RFC 9112 allows). The head is bounded (`Head::TooLarge`); a
//! request with a body (Content-Length other than 0, or
//! Transfer-Encoding) is refused, since nothing here takes one.

/// A request head that was read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a [u8],
    /// The path, without the query and without `http://host` of an
    /// absolute-form target.
    pub path: &'a [u8],
    /// HTTP/1.1 (else 1.0).
    pub http11: bool,
    /// The connection stays open after the response: HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// The request announces a body.
    pub body: bool,
}

/// What the received bytes hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head<'a> {
    /// Not a whole head yet.
    Incomplete,
    /// No end of the head within the limit.
    TooLarge,
    /// Not HTTP/1.x as described above.
    Bad,
    /// A version other than 1.0 and 1.1.
    Version,
    /// A whole head of `len` bytes.
    Done(Request<'a>, usize),
}

/// The end of the head in `buf` (the index after the empty line).
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\n', &buf[from..]) {
        let nl = from + i;
        let rest = &buf[nl + 1..];
        if rest.starts_with(b"\n") {
            return Some(nl + 2);
        }
        if rest.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        from = nl + 1;
    }
    None
}

/// RFC 9110's token characters (methods and header names).
fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// Parses the head at the start of `buf`, which may hold at most `max`
/// bytes of it.
pub fn parse(buf: &[u8], max: usize) -> Head<'_> {
    // leading empty lines are allowed before a request (RFC 9112, 2.2)
    let skip = buf
        .iter()
        .take_while(|&&c| c == b'\r' || c == b'\n')
        .count();
    let Some(end) = head_end(&buf[skip..]).map(|e| e + skip) else {
        return if buf.len() >= max {
            Head::TooLarge
        } else {
            Head::Incomplete
        };
    };
    if end > max {
        return Head::TooLarge;
    }
    let mut lines = buf[skip..end].split(|&c| c == b'\n').map(|l| match l {
        [rest @ .., b'\r'] => rest,
        l => l,
    });
    let Some(line) = lines.next() else {
        return Head::Bad;
    };
    let mut parts = line.split(|&c| c == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Head::Bad;
    };
    if !is_token(method) || target.is_empty() || target.iter().any(|&c| c <= b' ' || c == 0x7f) {
        return Head::Bad;
    }
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        v if v.starts_with(b"HTTP/") => return Head::Version,
        _ => return Head::Bad,
    };
    let Some(path) = path_of(target) else {
        return Head::Bad;
    };
    let mut close = false;
    let mut keep = false;
    let mut body = false;
    for l in lines {
        if l.is_empty() {
            break;
        }
        // no obsolete line folding, no space before the colon
        let Some(colon) = memchr::memchr(b':', l) else {
            return Head::Bad;
        };
        let (name, value) = (&l[..colon], trim(&l[colon + 1..]));
        if !is_token(name) || value.iter().any(|&c| c < b' ' && c != b'\t') {
            return Head::Bad;
        }
        if name.eq_ignore_ascii_case(b"connection") {
            for opt in value.split(|&c| c == b',').map(trim) {
                close |= opt.eq_ignore_ascii_case(b"close");
                keep |= opt.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                return Head::Bad;
            }
            body |= value.iter().any(|&c| c != b'0');
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            body = true;
        }
    }
    let keep_alive = !close && (http11 || keep);
    Head::Done(
        Request {
            method,
            path,
            http11,
            keep_alive,
            body,
        },
        end,
    )
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| c != b' ' && c != b'\t');
    let end = s.iter().rposition(|&c| c != b' ' && c != b'\t');
    match (start, end) {
        (Some(a), Some(b)) => &s[a..=b],
        _ => &[],
    }
}

/// `p` without its query or fragment.
fn no_query(p: &[u8]) -> &[u8] {
    match memchr::memchr2(b'?', b'#', p) {
        Some(i) => &p[..i],
        None => p,
    }
}

/// The path of a request target: origin form `/p?q`, absolute form
/// `http://host/p?q`, or `*` (OPTIONS); None for anything else.
fn path_of(target: &[u8]) -> Option<&[u8]> {
    if target.starts_with(b"/") || target == b"*" {
        return Some(no_query(target));
    }
    let scheme = |s: &[u8]| {
        target
            .get(..s.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(s))
    };
    let rest = if scheme(b"http://") {
        &target[7..]
    } else if scheme(b"https://") {
        &target[8..]
    } else {
        return None;
    };
    match memchr::memchr(b'/', rest) {
        Some(i) => Some(no_query(&rest[i..])),
        None => Some(b"/"),
    }
}

/// A response head: status line, `Content-Type`, `Content-Length`,
/// `Connection: close` when the connection ends after it, and `Allow` for
/// 405.
pub fn response_head(
    status: u16,
    content_type: &str,
    length: usize,
    close: bool,
    out: &mut Vec<u8>,
) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    };
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(num.format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: ");
    out.extend_from_slice(content_type.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    out.extend_from_slice(num.format(length).as_bytes());
    if status == 405 {
        out.extend_from_slice(b"\r\nAllow: GET, HEAD");
    }
    if close {
        out.extend_from_slice(b"\r\nConnection: close");
    }
    out.extend_from_slice(b"\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn done(b: &[u8]) -> (Request<'_>, usize) {
        match parse(b, 8192) {
            Head::Done(r, n) => (r, n),
            h => panic!("{h:?} for {:?}", String::from_utf8_lossy(b)),
        }
    }

    #[test]
    fn a_prometheus_scrape() {
        let req = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9177\r\nUser-Agent: Prometheus/2.42.0\r\n\
                    Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n\
                    Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\nGET /";
        let (r, n) = done(req);
        assert_eq!((r.method, r.path), (&b"GET"[..], &b"/metrics"[..]));
        assert!(r.http11 && r.keep_alive && !r.body);
        assert_eq!(&req[n..], b"GET /");
    }

    #[test]
    fn versions_connection_and_forms() {
        let (r, _) = done(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert_eq!(r.path, b"/metrics");
        assert!(!r.http11 && !r.keep_alive);
        let (r, _) = done(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(r.keep_alive);
        let (r, _) = done(b"GET / HTTP/1.1\r\nconnection: foo, close\r\n\r\n");
        assert!(!r.keep_alive);
        let (r, _) = done(b"HEAD http://h:1/metrics HTTP/1.1\nHost: h\n\n");
        assert_eq!((r.method, r.path), (&b"HEAD"[..], &b"/metrics"[..]));
        let (r, _) = done(b"GET http://h HTTP/1.1\r\n\r\n");
        assert_eq!(r.path, b"/");
        let (r, _) = done(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n");
        assert_eq!(r.path, b"/");
        let (r, _) = done(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
        assert!(r.body);
        let (r, _) = done(b"GET / HTTP/1.1\r\nContent-Length: 000\r\n\r\n");
        assert!(!r.body);
        let (r, _) = done(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(r.body);
    }

    #[test]
    fn bad_heads() {
        for b in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1 x\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET /a\x01 HTTP/1.1\r\n\r\n",
            b"GET / FTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nNo colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n",
        ] {
            assert_eq!(
                parse(b, 8192),
                Head::Bad,
                "{:?}",
                String::from_utf8_lossy(b)
            );
        }
        assert_eq!(
            parse(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 8192),
            Head::Version
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: x\r\n", 8192),
            Head::Incomplete
        );
        assert_eq!(parse(b"", 8192), Head::Incomplete);
        assert_eq!(parse(&[b'a'; 100], 100), Head::TooLarge);
        assert_eq!(parse(&[b'a'; 99], 100), Head::Incomplete);
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend_from_slice(&[b'y'; 200]);
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse(&big, 100), Head::TooLarge);
    }

    #[test]
    fn heads_of_responses() {
        let mut v = Vec::new();
        response_head(200, "text/plain", 12, false, &mut v);
        assert_eq!(
            v,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n"
        );
        v.clear();
        response_head(405, "text/plain", 0, true, &mut v);
        assert!(v.ends_with(b"Allow: GET, HEAD\r\nConnection: close\r\n\r\n"));
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            match parse(&b, 200) {
                Head::Done(_, n) => prop_assert!(n <= b.len() && n <= 200),
                Head::TooLarge => prop_assert!(b.len() >= 200 || head_end(&b).is_some()),
                _ => {}
            }
        }
    }
}
