//! HTTP/1.x summary: request line (method, scrubbed target, version), the Host and
//! User-Agent headers, or a response's status line.
//!
//! Only this segment's bytes are read; headers are scanned up to the blank line or the end
//! of the payload, and only complete header lines count. Every stored value is cut at
//! [`MAX_FIELD`] bytes on a char boundary; invalid UTF-8 becomes U+FFFD and control
//! characters `?`.
//!
//! Secrets never leave the parser: `Authorization`, `Proxy-Authorization` and `Cookie` are
//! not copied anywhere (only Host and User-Agent are), the userinfo of an absolute or
//! authority-form target is replaced by `REDACTED@`, and the values of query parameters
//! whose names look secret (see [`SECRET_QUERY_KEYS`]) by `REDACTED`.

use netsensor_schema::{Http, HttpRequest, HttpResponse, Url, UserAgent};

use super::{push_lossy, AppError, AppScratch, TextRef};

/// Longest value stored per field (URL, Host, User-Agent), in bytes.
pub const MAX_FIELD: usize = 8 * 1024;

/// Query parameter names whose values are replaced by `REDACTED`, compared ASCII
/// case-insensitively. A parameter matches when its whole name is in this list, when the
/// last alphanumeric component of its name is (`client_secret`, `X-Amz-Signature`,
/// `user[password]`), or when its name ends with an entry of five or more letters
/// (`authToken`, `adminPassword`).
pub const SECRET_QUERY_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "secret",
    "session",
    "sessionid",
    "sid",
    "auth",
    "signature",
    "sig",
    "code",
    "credential",
    "jwt",
];

/// Request methods recognized at the start of a payload (RFC 9110, WebDAV, CalDAV, SSDP,
/// and the common cache-purge extension). Methods are case-sensitive.
const METHODS: &[&str] = &[
    "GET",
    "POST",
    "PUT",
    "DELETE",
    "HEAD",
    "OPTIONS",
    "PATCH",
    "CONNECT",
    "TRACE",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "SEARCH",
    "REPORT",
    "MKCALENDAR",
    "MKACTIVITY",
    "CHECKOUT",
    "MERGE",
    "ACL",
    "BIND",
    "UNBIND",
    "REBIND",
    "M-SEARCH",
    "NOTIFY",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "PURGE",
    "LINK",
    "UNLINK",
];

/// `http.version` values for HTTP/1.0 … HTTP/1.9.
const VERSIONS: [&str; 10] = [
    "1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9",
];

/// What [`parse_http`] found; strings live in the [`AppScratch`] it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSummary {
    version: &'static str,
    kind: Kind,
}

/// Request or response specifics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request {
        method: &'static str,
        target: TextRef,
        host: Option<TextRef>,
        user_agent: Option<TextRef>,
    },
    Response {
        status_code: u16,
    },
}

impl HttpSummary {
    /// The ECS `http` object; `scratch` must be the one given to [`parse_http`].
    pub fn http<'a>(&self, _scratch: &'a AppScratch) -> Http<'a> {
        let (request, response) = match self.kind {
            Kind::Request { method, .. } => (Some(HttpRequest { method }), None),
            Kind::Response { status_code } => (None, Some(HttpResponse { status_code })),
        };
        Http {
            request,
            response,
            version: Some(self.version),
        }
    }

    /// The ECS `url` object of a request (None for a response).
    pub fn url<'a>(&self, scratch: &'a AppScratch) -> Option<Url<'a>> {
        match self.kind {
            Kind::Request { target, host, .. } => Some(Url {
                original: target.get(&scratch.text),
                domain: host.map(|h| h.get(&scratch.text)),
            }),
            Kind::Response { .. } => None,
        }
    }

    /// The ECS `user_agent` object of a request that sent the header.
    pub fn user_agent<'a>(&self, scratch: &'a AppScratch) -> Option<UserAgent<'a>> {
        match self.kind {
            Kind::Request {
                user_agent: Some(ua),
                ..
            } => Some(UserAgent {
                original: ua.get(&scratch.text),
            }),
            _ => None,
        }
    }

    /// True for a request, false for a response.
    pub fn is_request(&self) -> bool {
        matches!(self.kind, Kind::Request { .. })
    }
}

/// Parses an HTTP/1.x request line and its Host / User-Agent headers, or a status line.
/// With `scrub` (the default configuration), userinfo and secret query values in the
/// target are replaced by `REDACTED`; without it the target is kept as sent (still cut at
/// [`MAX_FIELD`]). Authorization and Cookie headers are never copied either way.
///
/// Ok(None) when the payload does not start with an HTTP/1.x request line or status line.
///
/// # Errors
/// [`AppError::Truncated`] when the payload starts like a request or status line (a known
/// method and a space, or `HTTP/1.`) but ends before the line is complete.
pub fn parse_http(
    payload: &[u8],
    scrub: bool,
    scratch: &mut AppScratch,
) -> Result<Option<HttpSummary>, AppError> {
    if payload.starts_with(b"HTTP/") {
        return parse_status_line(payload);
    }
    let Some(space) = payload.iter().take(20).position(|&b| b == b' ') else {
        return Ok(None);
    };
    let Some(method) = payload.get(..space).and_then(known_method) else {
        return Ok(None);
    };
    let (line, rest, complete) = first_line(payload.get(space + 1..).unwrap_or_default());
    let parsed = line
        .iter()
        .position(|&b| b == b' ')
        .and_then(|sp| Some((line.get(..sp)?, line.get(sp + 1..)?)))
        .filter(|(target, _)| !target.is_empty())
        .and_then(|(target, version)| Some((target, http1_version(version)?)));
    let Some((target, version)) = parsed else {
        return if complete {
            Ok(None)
        } else {
            Err(AppError::Truncated)
        };
    };

    let text = &mut scratch.text;
    let start = text.len();
    if scrub {
        write_scrubbed_target(target, text);
    } else {
        push_lossy(text, target, MAX_FIELD);
    }
    let target = TextRef::since(text, start);
    let (host, user_agent) = scan_headers(rest, text);
    Ok(Some(HttpSummary {
        version,
        kind: Kind::Request {
            method,
            target,
            host,
            user_agent,
        },
    }))
}

/// `HTTP/1.x SP code` (the reason phrase is ignored).
fn parse_status_line(payload: &[u8]) -> Result<Option<HttpSummary>, AppError> {
    const PREFIX_LEN: usize = "HTTP/1.1 200".len();
    let (line, _, complete) = first_line(payload);
    if line.len() < PREFIX_LEN {
        let could_be = b"HTTP/1.".iter().zip(line).all(|(a, b)| a == b);
        return if could_be && !complete {
            Err(AppError::Truncated)
        } else {
            Ok(None)
        };
    }
    let (Some(version), Some(b' '), Some(code)) = (
        line.get(5..8).and_then(http1_version_number),
        line.get(8),
        line.get(9..12),
    ) else {
        return Ok(None);
    };
    if !code.iter().all(u8::is_ascii_digit) || line.get(12).is_some_and(|&b| b != b' ') {
        return Ok(None);
    }
    let status_code = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    Ok(Some(HttpSummary {
        version,
        kind: Kind::Response { status_code },
    }))
}

/// The first line (without CR LF), the bytes after it, and whether a LF ended it.
fn first_line(bytes: &[u8]) -> (&[u8], &[u8], bool) {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(nl) => {
            let line = bytes.get(..nl).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line, bytes.get(nl + 1..).unwrap_or_default(), true)
        }
        None => (bytes.strip_suffix(b"\r").unwrap_or(bytes), &[], false),
    }
}

fn known_method(token: &[u8]) -> Option<&'static str> {
    METHODS.iter().copied().find(|m| m.as_bytes() == token)
}

/// `HTTP/1.x` exactly.
fn http1_version(bytes: &[u8]) -> Option<&'static str> {
    http1_version_number(bytes.strip_prefix(b"HTTP/")?)
}

/// `1.x` exactly.
fn http1_version_number(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [b'1', b'.', minor @ b'0'..=b'9'] => VERSIONS.get(usize::from(minor - b'0')).copied(),
        _ => None,
    }
}

/// Reads complete header lines up to the blank line and copies Host (port removed) and
/// User-Agent, the first of each. Nothing else is copied.
fn scan_headers(mut rest: &[u8], text: &mut String) -> (Option<TextRef>, Option<TextRef>) {
    let (mut host, mut user_agent) = (None, None);
    // Each iteration consumes one line, so this ends with the payload.
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let line = rest.get(..nl).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        rest = rest.get(nl + 1..).unwrap_or_default();
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line.get(..colon).unwrap_or_default();
        let value = line.get(colon + 1..).unwrap_or_default().trim_ascii();
        if host.is_none() && name.eq_ignore_ascii_case(b"host") {
            let domain = strip_port(value);
            if !domain.is_empty() {
                let start = text.len();
                push_lossy(text, domain, MAX_FIELD);
                host = Some(TextRef::since(text, start));
            }
        } else if user_agent.is_none() && name.eq_ignore_ascii_case(b"user-agent") {
            let start = text.len();
            push_lossy(text, value, MAX_FIELD);
            user_agent = Some(TextRef::since(text, start));
        }
    }
    (host, user_agent)
}

/// The host part of a Host header: `name:port` → `name`, `[v6]:port` → `[v6]` (ECS keeps
/// the brackets of an IPv6 literal in `url.domain`). A value with several colons and no
/// brackets is returned whole.
fn strip_port(value: &[u8]) -> &[u8] {
    if value.first() == Some(&b'[') {
        return match value.iter().position(|&b| b == b']') {
            Some(close) => value.get(..=close).unwrap_or(value),
            None => value,
        };
    }
    let mut colons = value.iter().enumerate().filter(|&(_, &b)| b == b':');
    match (colons.next(), colons.next()) {
        (Some((at, _)), None) => value.get(..at).unwrap_or(value),
        _ => value,
    }
}

/// Appends `target` with userinfo and secret query values replaced, cut at [`MAX_FIELD`].
fn write_scrubbed_target(target: &[u8], text: &mut String) {
    let start = text.len();
    let push = |text: &mut String, bytes: &[u8]| {
        let used = text.len() - start;
        push_lossy(text, bytes, MAX_FIELD.saturating_sub(used));
    };
    // Authority: after `scheme://` in absolute-form, the whole start in authority-form
    // (CONNECT), none in origin-form (`/…`) and asterisk-form (`*`).
    let scheme_end = target
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
        .filter(|&end| end > 0 && target.get(end..).is_some_and(|t| t.starts_with(b"://")));
    let authority_start = match (scheme_end, target.first()) {
        (Some(end), _) => Some(end + 3),
        (None, Some(b'/' | b'*')) | (None, None) => None,
        (None, Some(_)) => Some(0),
    };
    let mut rest = target;
    if let Some(auth_start) = authority_start {
        let (head, authority_and_path) = target.split_at(auth_start.min(target.len()));
        let auth_len = authority_and_path
            .iter()
            .position(|&b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(authority_and_path.len());
        let (authority, path) = authority_and_path.split_at(auth_len);
        push(text, head);
        match authority.iter().rposition(|&b| b == b'@') {
            Some(at) => {
                push(text, b"REDACTED@");
                push(text, authority.get(at + 1..).unwrap_or_default());
            }
            None => push(text, authority),
        }
        rest = path;
    }
    let Some(question) = rest.iter().position(|&b| b == b'?') else {
        push(text, rest);
        return;
    };
    let (path, query_and_fragment) = rest.split_at(question + 1);
    push(text, path);
    let query_len = query_and_fragment
        .iter()
        .position(|&b| b == b'#')
        .unwrap_or(query_and_fragment.len());
    let (query, fragment) = query_and_fragment.split_at(query_len);
    let mut first = true;
    for param in query.split(|&b| b == b'&') {
        if !first {
            push(text, b"&");
        }
        first = false;
        match param.iter().position(|&b| b == b'=') {
            Some(eq) if is_secret_key(param.get(..eq).unwrap_or_default()) => {
                push(text, param.get(..=eq).unwrap_or_default());
                push(text, b"REDACTED");
            }
            _ => push(text, param),
        }
    }
    push(text, fragment);
}

/// Whether a query parameter name looks like it carries a secret (see
/// [`SECRET_QUERY_KEYS`]).
fn is_secret_key(key: &[u8]) -> bool {
    let last_component = key
        .split(|b| !b.is_ascii_alphanumeric())
        .rfind(|c| !c.is_empty())
        .unwrap_or_default();
    SECRET_QUERY_KEYS.iter().any(|secret| {
        let secret = secret.as_bytes();
        key.eq_ignore_ascii_case(secret)
            || last_component.eq_ignore_ascii_case(secret)
            || (secret.len() >= 5
                && key.len() >= secret.len()
                && key
                    .get(key.len() - secret.len()..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(secret)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn parse(payload: &[u8]) -> (Result<Option<HttpSummary>, AppError>, AppScratch) {
        let mut scratch = AppScratch::default();
        let result = parse_http(payload, true, &mut scratch);
        (result, scratch)
    }

    /// (method, url.original, url.domain, version, user agent) of a request.
    fn request(payload: &[u8]) -> (String, String, Option<String>, String, Option<String>) {
        let (sum, s) = parse(payload);
        let sum = sum.unwrap().unwrap();
        let http = sum.http(&s);
        let url = sum.url(&s).unwrap();
        (
            http.request.unwrap().method.to_string(),
            url.original.to_string(),
            url.domain.map(str::to_string),
            http.version.unwrap().to_string(),
            sum.user_agent(&s).map(|u| u.original.to_string()),
        )
    }

    fn original(target: &str) -> String {
        request(format!("GET {target} HTTP/1.1\r\n\r\n").as_bytes()).1
    }

    // --- Real captures; payload hex and expectations from tshark 4.0.17
    // (`-e tcp.payload -e http.request.method -e http.request.uri -e http.host
    // -e http.user_agent -e http.request.version -e http.response.code`).

    /// http-post.pcap frame 4: POST /post HTTP/1.1, Host httpbin.org, UA curl/7.29.0.
    const POST: &str = "504f5354202f706f737420485454502f312e310d0a557365722d4167656e743a206375726c2f372e32392e300d0a486f73743a206874747062696e2e6f72670d0a4163636570743a202a2f2a0d0a436f6e74656e742d4c656e6774683a2031310d0a436f6e74656e742d547970653a206170706c69636174696f6e2f782d7777772d666f726d2d75726c656e636f6465640d0a0d0a68656c6c6f20776f726c64";
    /// http-post.pcap frame 6: the status line alone (tshark reports it on frame 8 after
    /// reassembly): HTTP/1.1, code 200.
    const STATUS_200: &str = "485454502f312e3120323030204f4b0d0a";
    /// http-post.pcap frame 8: the rest of the response headers (no status line).
    const RESPONSE_TAIL: &str = "5365727665723a2067756e69636f726e2f302e31362e310d0a446174653a205475652c203139204d617220323031332031363a30353a313120474d540d0a";
    /// vlan-8021q-http.pcap frame 4: GET /download/CHANGES.bro-aux.txt HTTP/1.1, Host
    /// bro.org, UA "Wget/1.14 (darwin12.2.0)".
    const VLAN_GET: &str = "474554202f646f776e6c6f61642f4348414e4745532e62726f2d6175782e74787420485454502f312e310d0a557365722d4167656e743a20576765742f312e3134202864617277696e31322e322e30290d0a4163636570743a202a2f2a0d0a486f73743a2062726f2e6f72670d0a436f6e6e656374696f6e3a204b6565702d416c6976650d0a0d0a";
    /// http-get-gzip-json.pcap frame 4: GET /gzip HTTP/1.1, Host httpbin.org, UA curl/7.29.0.
    const GZIP_GET: &str = "474554202f677a697020485454502f312e310d0a557365722d4167656e743a206375726c2f372e32392e300d0a486f73743a206874747062696e2e6f72670d0a4163636570743a202a2f2a0d0a0d0a";

    #[test]
    fn tshark_requests() {
        let expect = |m: &str, u: &str, h: &str, ua: &str| {
            (
                m.to_string(),
                u.to_string(),
                Some(h.to_string()),
                "1.1".to_string(),
                Some(ua.to_string()),
            )
        };
        assert_eq!(
            request(&hex(POST)),
            expect("POST", "/post", "httpbin.org", "curl/7.29.0")
        );
        assert_eq!(
            request(&hex(VLAN_GET)),
            expect(
                "GET",
                "/download/CHANGES.bro-aux.txt",
                "bro.org",
                "Wget/1.14 (darwin12.2.0)"
            )
        );
        assert_eq!(
            request(&hex(GZIP_GET)),
            expect("GET", "/gzip", "httpbin.org", "curl/7.29.0")
        );
    }

    #[test]
    fn tshark_response() {
        let (sum, s) = parse(&hex(STATUS_200));
        let sum = sum.unwrap().unwrap();
        assert!(!sum.is_request());
        let http = sum.http(&s);
        assert_eq!(
            (http.response.unwrap().status_code, http.version),
            (200, Some("1.1"))
        );
        assert!(http.request.is_none() && sum.url(&s).is_none() && sum.user_agent(&s).is_none());
        assert_eq!(parse(&hex(RESPONSE_TAIL)).0, Ok(None));
        // The POST body segment is not HTTP by itself.
        assert_eq!(parse(b"hello world").0, Ok(None));
    }

    #[test]
    fn scrubbing_can_be_turned_off_but_never_copies_authorization() {
        let payload = b"GET /login?password=hunter2 HTTP/1.1\r\nHost: h\r\nAuthorization: Basic c2VjcmV0\r\n\r\n";
        let mut scratch = AppScratch::default();
        let sum = parse_http(payload, false, &mut scratch).unwrap().unwrap();
        assert_eq!(
            sum.url(&scratch).unwrap().original,
            "/login?password=hunter2"
        );
        assert!(!scratch.text.contains("c2VjcmV0"));
        scratch.clear();
        let sum = parse_http(payload, true, &mut scratch).unwrap().unwrap();
        assert_eq!(
            sum.url(&scratch).unwrap().original,
            "/login?password=REDACTED"
        );
    }

    #[test]
    fn credentials_in_the_url_are_scrubbed() {
        assert_eq!(
            original("http://alice:s3cret@example.com:8080/a/b?x=1"),
            "http://REDACTED@example.com:8080/a/b?x=1"
        );
        // An '@' in the path or query is not userinfo.
        assert_eq!(
            original("http://example.com/u@x?m=a@b"),
            "http://example.com/u@x?m=a@b"
        );
        // Last '@' of the authority ends the userinfo.
        assert_eq!(original("https://a@b:c@host/"), "https://REDACTED@host/");
        // Authority-form (CONNECT) with userinfo.
        let (method, url, ..) = request(
            b"CONNECT bob:pw@proxy.example:443 HTTP/1.1\r\nHost: proxy.example:443\r\n\r\n",
        );
        assert_eq!(
            (method.as_str(), url.as_str()),
            ("CONNECT", "REDACTED@proxy.example:443")
        );
    }

    #[test]
    fn secret_query_values_are_scrubbed() {
        assert_eq!(
            original("/login?user=bob&password=hunter2&PWD=x&lang=en&Access_Token=abc&api_key=k&q"),
            "/login?user=bob&password=REDACTED&PWD=REDACTED&lang=en&Access_Token=REDACTED&api_key=REDACTED&q"
        );
        assert_eq!(
            original("/cb?code=4/0Ax&state=xyz&client_secret=s&X-Amz-Signature=ab&user[password]=p#frag"),
            "/cb?code=REDACTED&state=xyz&client_secret=REDACTED&X-Amz-Signature=REDACTED&user[password]=REDACTED#frag"
        );
        assert_eq!(
            original("/a?authToken=t&sessionid=1&sid=2&sig=3&monkey=banana&token="),
            "/a?authToken=REDACTED&sessionid=REDACTED&sid=REDACTED&sig=REDACTED&monkey=banana&token=REDACTED"
        );
        assert_eq!(
            original("http://h/p?secret=1"),
            "http://h/p?secret=REDACTED"
        );
        assert_eq!(original("*"), "*");
        for key in SECRET_QUERY_KEYS {
            assert!(is_secret_key(key.to_ascii_uppercase().as_bytes()), "{key}");
        }
        assert!(!is_secret_key(b"keyword") && !is_secret_key(b"q") && !is_secret_key(b""));
    }

    #[test]
    fn authorization_and_cookies_are_never_copied() {
        let payload = b"GET /?token=t0psecret HTTP/1.1\r\nAuthorization: Basic YWxpY2U6czNjcmV0\r\nCookie: session=c00kie\r\nProxy-Authorization: Bearer pr0xy\r\nHost: example.com\r\nUser-Agent: ua/1\r\n\r\n";
        let (sum, s) = parse(payload);
        assert!(sum.unwrap().is_some());
        for secret in ["YWxpY2U6czNjcmV0", "c00kie", "pr0xy", "t0psecret"] {
            assert!(
                !s.text.contains(secret),
                "{secret} leaked into {:?}",
                s.text
            );
        }
    }

    #[test]
    fn host_ports_and_ipv6() {
        let host =
            |value: &str| request(format!("GET / HTTP/1.0\r\nHost: {value}\r\n\r\n").as_bytes()).2;
        assert_eq!(host("example.com:8080").as_deref(), Some("example.com"));
        assert_eq!(host("  Example.COM  ").as_deref(), Some("Example.COM"));
        assert_eq!(host("[2001:db8::1]:443").as_deref(), Some("[2001:db8::1]"));
        assert_eq!(host("[2001:db8::1]").as_deref(), Some("[2001:db8::1]"));
        assert_eq!(host("2001:db8::1").as_deref(), Some("2001:db8::1"));
        assert_eq!(host("192.0.2.1:80").as_deref(), Some("192.0.2.1"));
        assert_eq!(host(":80"), None);
        assert_eq!(host(""), None);
        // First Host wins; header names are case-insensitive; LF-only lines work.
        let (_, _, h, v, ua) =
            request(b"GET / HTTP/1.0\nhOsT: a.example\nHOST: b.example\nuser-agent: x\n\n");
        assert_eq!(
            (h.as_deref(), v.as_str(), ua.as_deref()),
            (Some("a.example"), "1.0", Some("x"))
        );
    }

    #[test]
    fn headers_stop_at_the_blank_line_and_need_a_line_end() {
        let (_, _, host, _, ua) = request(b"GET / HTTP/1.1\r\n\r\nHost: body.example\r\n");
        assert_eq!((host, ua), (None, None));
        // A header line cut by the end of the segment is not used.
        let (_, _, host, _, ua) = request(b"GET / HTTP/1.1\r\nUser-Agent: full\r\nHost: cut.exa");
        assert_eq!((host, ua.as_deref()), (None, Some("full")));
        // Request line ending the payload without CR LF.
        assert_eq!(request(b"GET /x HTTP/1.1").1, "/x");
    }

    #[test]
    fn not_http_and_cut_lines() {
        for payload in [
            &b""[..],
            b"\x16\x03\x01\x02\x00\x01",
            b"get / HTTP/1.1\r\n\r\n",
            b"FETCH / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET /\r\n",
            b"GET / HTTP/1.1 x\r\n",
            b"GET /a b HTTP/1.1\r\n",
            b"GET  HTTP/1.1\r\n",
            b"HTTP/2 200\r\n",
            b"HTTP/1.1 20\r\n",
            b"HTTP/1.1 2x0 OK\r\n",
            b"HTTP/1.1 2000\r\n",
            b"HTTP/1.10 200 OK\r\n",
        ] {
            assert_eq!(
                parse(payload).0,
                Ok(None),
                "{:?}",
                String::from_utf8_lossy(payload)
            );
        }
        for payload in [
            &b"GET /very/long"[..],
            b"POST /x HTTP/1",
            b"HTTP/1.1 2",
            b"HTTP/1.",
        ] {
            assert_eq!(parse(payload).0, Err(AppError::Truncated), "{payload:?}");
        }
        let (sum, s) = parse(b"HTTP/1.0 404");
        assert_eq!(
            sum.unwrap().unwrap().http(&s).response.unwrap().status_code,
            404
        );
    }

    #[test]
    fn long_and_odd_values_are_bounded() {
        let long_path = format!("/{}", "é".repeat(MAX_FIELD));
        let ua = "u".repeat(MAX_FIELD + 10);
        let payload = format!("GET {long_path}?password=x HTTP/1.1\r\nUser-Agent: {ua}\r\n\r\n");
        let (_, url, _, _, agent) = request(payload.as_bytes());
        assert!(url.len() <= MAX_FIELD && url.len() > MAX_FIELD - 2);
        assert_eq!(agent.unwrap().len(), MAX_FIELD);
        // Invalid UTF-8 and control characters.
        let (_, url, _, _, agent) =
            request(b"GET /\xff\x01 HTTP/1.1\r\nUser-Agent: a\xc3\x28\tb\r\n\r\n");
        assert_eq!(url, "/\u{fffd}?");
        assert_eq!(agent.as_deref(), Some("a\u{fffd}(?b"));
    }

    #[test]
    fn methods_and_versions() {
        for method in METHODS {
            let (m, _, _, v, _) = request(format!("{method} / HTTP/1.0\r\n\r\n").as_bytes());
            assert_eq!((m.as_str(), v.as_str()), (*method, "1.0"));
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut s = AppScratch::default();
            if let Ok(Some(sum)) = parse_http(&bytes, true, &mut s) {
                let _ = (sum.http(&s), sum.url(&s), sum.user_agent(&s));
            }
        }

        #[test]
        fn random_requests_never_panic_or_leak(
            target in "[ -~]{0,80}",
            headers in proptest::collection::vec(("[A-Za-z-]{1,12}", "[ -~]{0,40}"), 0..6),
        ) {
            let mut payload =
                format!("GET {target} HTTP/1.1\r\nAuthorization: Basic Zm9vOmJhcg==\r\n");
            for (name, value) in &headers {
                payload.push_str(&format!("{name}: {value}\r\n"));
            }
            let mut s = AppScratch::default();
            let _ = parse_http(payload.as_bytes(), true, &mut s);
            prop_assert!(!s.text.contains("Zm9vOmJhcg=="));
        }

        #[test]
        fn secret_values_never_survive(
            path in "/[a-z/]{0,10}",
            key in proptest::sample::select(SECRET_QUERY_KEYS),
            value in "[A-Za-z0-9]{12,20}",
        ) {
            let payload = format!("GET {path}?a=1&{key}={value} HTTP/1.1\r\n\r\n");
            let (_, url, ..) = request(payload.as_bytes());
            prop_assert!(!url.contains(&value));
            prop_assert!(url.ends_with("=REDACTED"));
        }
    }
}
