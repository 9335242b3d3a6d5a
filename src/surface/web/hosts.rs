//! Which names the box answers to (`[web] hosts`): a request whose `Host` names another is
//! refused with 421 before any route runs, the API's and the page's alike.
//!
//! A page on another site that rebinds its own name to the box's address (DNS rebinding)
//! makes an admin's browser send that name as `Host`, so it is refused here, before the page,
//! `/metrics` or the inbox answer it. An address written in digits cannot be rebound, so any
//! IP address is answered; so are `localhost` (and names under it), this machine's host name
//! and that name under `.local`, and the names the configuration lists. `"*"` there turns
//! the check off (for a reverse proxy that checks names itself).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::config::WebSettings;

/// How often a refused name is written to the journal, at most.
const LOG_EVERY_MS: u64 = 600_000;

/// The names answered to.
pub struct Names {
    any: bool,
    names: Vec<String>,
    /// When a refusal was last logged (ms since the epoch), so a flood writes one line.
    logged_ms: AtomicU64,
}

impl Names {
    pub fn new(web: &WebSettings) -> Names {
        let host = crate::config::host_name().to_ascii_lowercase();
        let mut names = vec!["localhost".to_owned(), format!("{host}.local"), host];
        let mut any = false;
        for name in &web.hosts {
            if name == "*" {
                any = true;
            } else {
                names.push(name.to_ascii_lowercase());
            }
        }
        Names {
            any,
            names,
            logged_ms: AtomicU64::new(0),
        }
    }

    /// Whether `host` (a `Host` header's value, with or without its port) is answered.
    pub fn allows(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        let host = host.trim();
        if let Some(rest) = host.strip_prefix('[') {
            // An IPv6 address, `[::1]` or `[::1]:8080`.
            return rest.split_once(']').is_some_and(|(ip, port)| {
                ip.parse::<Ipv6Addr>().is_ok() && (port.is_empty() || is_port(port))
            });
        }
        let name = match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        };
        if name.parse::<Ipv4Addr>().is_ok() {
            return true;
        }
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        name.ends_with(".localhost") || self.names.contains(&name)
    }

    fn should_log(&self) -> bool {
        let now = u64::try_from(crate::deliver::now_ms()).unwrap_or(0);
        let last = self.logged_ms.load(Ordering::Relaxed);
        (last == 0 || now.saturating_sub(last) >= LOG_EVERY_MS)
            && self
                .logged_ms
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// `:8080`'s digits.
fn is_port(text: &str) -> bool {
    text.strip_prefix(':')
        .unwrap_or(text)
        .parse::<u16>()
        .is_ok()
}

/// The middleware: requests for a name not answered to get 421 (JSON in ExaVault's shape
/// under the API's paths, a line of text elsewhere); the rest go on.
pub async fn refuse_others(
    State(names): State<Arc<Names>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let host = match request.uri().authority() {
        Some(authority) => Some(Ok(authority.as_str())),
        None => request
            .headers()
            .get(header::HOST)
            .map(|v| v.to_str().map_err(|_| ())),
    };
    let refused = match host {
        // A request without a name (HTTP/1.0) comes from no browser.
        None => return next.run(request).await,
        Some(Ok(host)) if names.allows(host) => return next.run(request).await,
        Some(Ok(host)) => crate::core::event::escape_controls(host).into_owned(),
        Some(Err(())) => "(not ASCII)".to_owned(),
    };
    if names.should_log() {
        let peer = request
            .extensions()
            .get::<super::Peer>()
            .map_or_else(String::new, |p| format!(" from {}", p.0.ip()));
        log::warn!(
            "web: refused a request for the name \"{refused}\"{peer}: add it to [web] hosts if the box should answer to it (more such refusals are not logged for {} minutes)",
            LOG_EVERY_MS / 60_000
        );
    }
    let detail = format!(
        "this box does not answer to the name \"{refused}\"; an admin can add the name to [web] hosts in the configuration"
    );
    let path = request.uri().path();
    let api = ["/api/", "/metrics", "/openapi.json"]
        .iter()
        .any(|p| path.starts_with(p));
    let mut response = if api {
        crate::surface::api::ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "ERROR_INVALID_HOST",
            detail,
        )
        .into_response()
    } else {
        (StatusCode::MISDIRECTED_REQUEST, format!("{detail}\n")).into_response()
    };
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_loopback_this_host_and_listed_names_are_answered_and_no_other() {
        let web = WebSettings {
            hosts: vec!["NAS.example.lan".to_owned()],
            ..WebSettings::default()
        };
        let names = Names::new(&web);
        let host = crate::config::host_name().to_ascii_lowercase();
        for ok in [
            "127.0.0.1:8080",
            "192.168.1.5",
            "[::1]:8080",
            "[fe80::1]",
            "localhost:8080",
            "LOCALHOST",
            "app.localhost:8080",
            "nas.example.lan:8443",
            "nas.example.lan.",
            &format!("{host}:8080"),
            &format!("{host}.local"),
        ] {
            assert!(names.allows(ok), "{ok} is answered");
        }
        for refused in [
            "evil.example:8080",
            "nas.example.lan.evil.example",
            &format!("{host}.evil.example"),
            "127.0.0.1.nip.io:8080",
            "localhost.evil.example",
            "[::1]x",
            "[not-an-address]:80",
            "nas.example.lan:99999",
            "",
        ] {
            assert!(!names.allows(refused), "{refused} is refused");
        }
        let any = Names::new(&WebSettings {
            hosts: vec!["*".to_owned()],
            ..WebSettings::default()
        });
        assert!(any.allows("evil.example"));
    }
}
