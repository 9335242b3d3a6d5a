//! URLs and headers with their secrets hidden: for the journal (`redact_url`), for telling
//! what is wrong with a URL (`mask_credentials`), and for readers who may not see secrets, the
//! viewers (`hide_secrets` and its kin).

/// `url` for logs and `check`: a password in it shown as `***` (`https://user:***@host/`),
/// and its query (which may carry secrets) as `?…`.
pub fn redact_url(url: &str) -> String {
    // A broker's URL has no query, and its subject (which may hold braces) is shown as written.
    if crate::core::endpoint::broker_of(url).is_some() {
        return mask_credentials(url);
    }
    match url.parse::<http::Uri>() {
        Ok(uri) => {
            let scheme = uri.scheme_str().unwrap_or("http");
            let user = uri
                .authority()
                .and_then(|a| a.as_str().rsplit_once('@'))
                .map(|(userinfo, _)| format!("{}@", mask_userinfo(userinfo)))
                .unwrap_or_default();
            let host = uri.host().unwrap_or("");
            let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
            let query = if uri.query().is_some() { "?…" } else { "" };
            format!("{scheme}://{user}{host}{port}{}{query}", uri.path())
        }
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

/// `url` as written, but for a password in it, shown as `***`: for telling what is wrong with
/// a URL that may not even parse.
pub fn mask_credentials(url: &str) -> String {
    if let Some((scheme, userinfo, after)) = broker_userinfo(url) {
        return format!("{scheme}://{}@{after}", mask_userinfo(userinfo));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((userinfo, host)) => format!(
            "{scheme}://{}@{host}{}",
            mask_userinfo(userinfo),
            &rest[end..]
        ),
        None => url.to_owned(),
    }
}

/// `url` as a reader who may not see secrets (a viewer) is shown it: as written, but for its
/// credentials (`user:***@`, or `***@` for a user name alone, often a token) and the values of
/// the query's and the fragment's parameters whose names look secret (`apikey=***`, see
/// `secret_name`). Admins see URLs whole; logs use `redact_url`, which drops the query.
pub fn hide_secrets(url: &str) -> String {
    if broker_userinfo(url).is_some() {
        return mask_credentials(url);
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (&url[..scheme.len() + 3], rest),
        None => ("", url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if !scheme.is_empty() => {
            out.push_str(&mask_userinfo(userinfo));
            out.push('@');
            out.push_str(host);
        }
        _ => out.push_str(authority),
    }
    let (tail, fragment) = match tail.split_once('#') {
        Some((t, f)) => (t, Some(f)),
        None => (tail, None),
    };
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    out.push_str(path);
    if let Some(q) = query {
        out.push('?');
        out.push_str(&mask_parameters(q));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(&mask_parameters(f));
    }
    out
}

/// `text` (an error message, a header's value) with every URL in it shown as `hide_secrets`
/// shows it.
pub fn hide_secrets_in_text(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("://") {
        return std::borrow::Cow::Borrowed(text);
    }
    let ends = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let end = rest[at..].find(ends).map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..start]);
        out.push_str(&hide_secrets(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// A request header as a viewer is shown it: the value of one that carries credentials
/// (`authorization`, `cookie`, `ev-api-key`, `x-api-key`, a signature, ...) as `***` (after
/// its scheme, `Basic ***`), any other with its URLs shown as `hide_secrets` shows them.
pub fn hide_secret_header<'v>(name: &str, value: &'v str) -> std::borrow::Cow<'v, str> {
    let name = name.to_ascii_lowercase();
    let secret = secret_name(&name) || name.contains("cookie") || name.contains("signature");
    if !secret {
        return hide_secrets_in_text(value);
    }
    match value.trim().split_once(' ') {
        Some((scheme, _)) if name.ends_with("authorization") => format!("{scheme} ***").into(),
        _ if value.is_empty() => value.into(),
        _ => "***".into(),
    }
}

/// Whether a parameter or header named `name` looks like it carries a secret: `key`,
/// `apikey`, `api_key`, `token`, `access_token`, `secret`, `password`, `passwd`, `pass`,
/// `sig`, `signature`, `auth`, `code`, `session`, `credential`, and names holding one of them.
fn secret_name(name: &str) -> bool {
    let name = percent_encoding::percent_decode_str(name)
        .decode_utf8_lossy()
        .to_ascii_lowercase();
    const PARTS: [&str; 9] = [
        "key",
        "token",
        "secret",
        "pass",
        "sig",
        "auth",
        "session",
        "credential",
        "jwt",
    ];
    PARTS.iter().any(|p| name.contains(p)) || matches!(name.as_str(), "code" | "pw" | "pwd")
}

/// `a=1&apikey=s3cret` as `a=1&apikey=***`.
fn mask_parameters(text: &str) -> String {
    text.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() && secret_name(name) => {
                format!("{name}=***")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `user:password` as `user:***`; a user name alone (often a token) as `***`.
/// A broker URL's scheme, credentials and what follows them. A broker URL's subject or topic
/// holds no `@` (`BrokerUrl::parse` refuses one), so its credentials are all that stands
/// before its last `@`, whatever they hold (`/`, `?` and `#` included).
fn broker_userinfo(url: &str) -> Option<(&str, &str, &str)> {
    crate::core::endpoint::broker_of(url)?;
    let (scheme, rest) = url.split_once("://")?;
    let (userinfo, after) = rest.rsplit_once('@')?;
    Some((scheme, userinfo, after))
}

fn mask_userinfo(userinfo: &str) -> String {
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    }
}

/// `message` with the credentials of `url` (`user:password@`), where it quotes them, shown
/// as `mask_credentials` shows them.
pub fn hide_password(message: &str, url: &str) -> String {
    let userinfo = match broker_userinfo(url) {
        Some((_, userinfo, _)) => Some(userinfo),
        None => url
            .split_once("://")
            .map(|(_, rest)| &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())])
            .and_then(|authority| authority.rsplit_once('@'))
            .map(|(userinfo, _)| userinfo),
    };
    match userinfo {
        Some(u) => message.replace(&format!("{u}@"), &format!("{}@", mask_userinfo(u))),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_logs_lose_credentials_and_queries() {
        assert_eq!(
            redact_url("nats://box:pw@n1,n2:4223/files.{account}.{event}"),
            "nats://box:***@n1,n2:4223/files.{account}.{event}"
        );
        assert_eq!(redact_url("tls://t0ken@n1/ev"), "tls://***@n1/ev");
        assert_eq!(
            redact_url("http://10.0.0.5:9000/hook"),
            "http://10.0.0.5:9000/hook"
        );
        assert_eq!(
            redact_url("https://user:pw@h.example/x?key=s3cret"),
            "https://user:***@h.example/x?…"
        );
        assert_eq!(
            redact_url("https://ghp_s3cret@h.example:8443/x"),
            "https://***@h.example:8443/x"
        );
        assert_eq!(
            mask_credentials("htp://user:p@ss@h.example/x y"),
            "htp://user:***@h.example/x y"
        );
        assert_eq!(
            mask_credentials("ftp://me:s3cret@h.example/x"),
            "ftp://me:***@h.example/x"
        );
        assert_eq!(
            mask_credentials("http://h.example/a@b"),
            "http://h.example/a@b"
        );
        assert_eq!(
            hide_password("bad URL: http://u:s3cret@h/ x", "http://u:s3cret@h/"),
            "bad URL: http://u:***@h/ x"
        );
        assert_eq!(hide_password("refused", "http://h/"), "refused");
        assert_eq!(hide_password("a: refused", "http://u:a@h/"), "a: refused");
    }

    #[test]
    fn a_viewer_sees_urls_without_credentials_or_secret_looking_values() {
        for (url, shown) in [
            ("http://10.0.0.5:9000/hook", "http://10.0.0.5:9000/hook"),
            (
                "http://user:password@host/x?apikey=abc&a=1",
                "http://user:***@host/x?apikey=***&a=1",
            ),
            (
                "https://ghp_s3cret@h.example/x?token=t&page=2&Access_Token=z",
                "https://***@h.example/x?token=***&page=2&Access_Token=***",
            ),
            (
                "https://h/x?api%5Fkey=1&sig=2&signature=3&code=4&pass=5&passwd=6&auth=7",
                "https://h/x?api%5Fkey=***&sig=***&signature=***&code=***&pass=***&passwd=***&auth=***",
            ),
            (
                "https://h/cb#access_token=abc&state=x",
                "https://h/cb#access_token=***&state=x",
            ),
            ("https://h/x?key=&q", "https://h/x?key=&q"),
            // An @ in the path is no credential.
            ("http://h.example/a@b?x=1", "http://h.example/a@b?x=1"),
        ] {
            assert_eq!(hide_secrets(url), shown, "{url}");
        }
        assert_eq!(
            hide_secrets_in_text("POST to http://u:p@h/x?key=k failed; see https://h/doc"),
            "POST to http://u:***@h/x?key=*** failed; see https://h/doc"
        );
        assert_eq!(hide_secrets_in_text("plain"), "plain");
        for (name, value, shown) in [
            ("authorization", "Basic dXNlcjpwYXNz", "Basic ***"),
            ("Proxy-Authorization", "Bearer abc", "Bearer ***"),
            ("cookie", "sharehook_session=abc", "***"),
            ("ev-api-key", "nas-0123", "***"),
            ("ev-access-token", "0123", "***"),
            ("x-api-key", "0123", "***"),
            ("x-exavault-signature", "0123", "***"),
            ("referer", "http://h/x?token=t", "http://h/x?token=***"),
            ("content-type", "application/json", "application/json"),
        ] {
            assert_eq!(hide_secret_header(name, value), shown, "{name}");
        }
    }
}
