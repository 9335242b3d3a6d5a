//! Where a webhook sends: an HTTP receiver, or a broker named by the URL's scheme.
//!
//! - `http://`, `https://`: a POST, as ExaVault does.
//! - `nats://`, `tls://`: a JetStream publish. `nats://[user:pass@|token@]host[:port][,host[:port]...]/SUBJECT`;
//!   more seed servers after commas, each `host[:port]` (4222 unless given); `tls://` requires TLS.
//! - `mqtt://`, `mqtts://`: an MQTT QoS 1 publish, `mqtt://[user:pass@]host[:port]/TOPIC`
//!   (1883, or 8883 for `mqtts://`).
//!
//! A subject or topic may hold `{account}`, `{share}` and `{event}` (the trigger's name:
//! `upload`, `createFolder`, ...), filled in for each event. What is filled in is made safe
//! for the broker: in a NATS subject every character but letters, digits, `-` and `_` becomes
//! `_` (a dot would add a token, `*` and `>` are wildcards); in an MQTT topic `/`, `+`, `#` and
//! control characters become `_`.

use percent_encoding::percent_decode_str;

use crate::core::event::Operation;

/// What kind of broker a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broker {
    Nats,
    Mqtt,
}

impl Broker {
    pub fn name(self) -> &'static str {
        match self {
            Broker::Nats => "NATS JetStream",
            Broker::Mqtt => "MQTT",
        }
    }
}

/// A broker URL taken apart.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub broker: Broker,
    /// `tls://` or `mqtts://`.
    pub tls: bool,
    /// The servers to try first, as `host:port` (an IPv6 address in brackets).
    pub servers: Vec<(String, u16)>,
    /// A user name (or, for NATS without a password, a token) and a password, decoded.
    pub user: Option<String>,
    pub password: Option<String>,
    /// The subject or topic, with its placeholders.
    pub template: String,
}

impl std::fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password (nor a token given as the user).
        f.debug_struct("BrokerUrl")
            .field("broker", &self.broker)
            .field("tls", &self.tls)
            .field("servers", &self.servers)
            .field("template", &self.template)
            .finish_non_exhaustive()
    }
}

/// The placeholders a subject or topic may use.
pub const PLACEHOLDERS: [&str; 3] = ["{account}", "{share}", "{event}"];

/// Which kind of endpoint `url` is: `None` for HTTP (or anything else, which `parse` refuses).
pub fn broker_of(url: &str) -> Option<Broker> {
    let scheme = url.split_once("://")?.0.to_ascii_lowercase();
    match scheme.as_str() {
        "nats" | "tls" => Some(Broker::Nats),
        "mqtt" | "mqtts" => Some(Broker::Mqtt),
        _ => None,
    }
}

impl BrokerUrl {
    /// Takes a broker URL apart; the error says what is wrong (the caller names the URL).
    pub fn parse(url: &str) -> Result<BrokerUrl, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| "has no scheme".to_owned())?;
        let scheme = scheme.to_ascii_lowercase();
        let (broker, tls, port) = match scheme.as_str() {
            "nats" => (Broker::Nats, false, 4222),
            "tls" => (Broker::Nats, true, 4222),
            "mqtt" => (Broker::Mqtt, false, 1883),
            "mqtts" => (Broker::Mqtt, true, 8883),
            _ => return Err(format!("{scheme}:// is not a broker")),
        };
        // Credentials are all before the last `@` (a password may hold `/`, `?` or `#`, and
        // the redactors read it so too); the subject or topic holds no `@`.
        let (userinfo, rest) = match rest.rsplit_once('@') {
            Some((userinfo, rest)) => (Some(userinfo), rest),
            None => (None, rest),
        };
        let (hosts, template) = match rest.split_once('/') {
            Some((hosts, path)) => (hosts, path),
            None => (rest, ""),
        };
        if hosts.contains(['?', '#']) {
            return Err(
                "has a ? or # in its servers (in a user name or password, it may be written as is)"
                    .to_owned(),
            );
        }
        let what = match broker {
            Broker::Nats => "subject",
            Broker::Mqtt => "topic",
        };
        if template.is_empty() {
            return Err(format!(
                "names no {what}: write it after the host, as in {scheme}://host/files.{{account}}.{{share}}.{{event}}"
            ));
        }
        let template = percent_decode_str(template)
            .decode_utf8()
            .map_err(|_| format!("its {what} is not UTF-8"))?
            .into_owned();
        check_template(broker, &template)?;
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| "its user name or password is not UTF-8".to_owned())
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (Some(decode(user)?), Some(decode(pass)?)),
                None => (Some(decode(u)?), None),
            },
        };
        if broker == Broker::Mqtt && hosts.contains(',') {
            return Err("names more than one server (MQTT takes one)".to_owned());
        }
        let servers = hosts
            .split(',')
            .map(|h| host_port(h, port))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BrokerUrl {
            broker,
            tls,
            servers,
            user,
            password,
            template,
        })
    }

    /// The subject or topic for one event.
    pub fn subject(&self, account: &str, share: &str, op: Operation) -> String {
        if !self.template.contains('{') {
            return self.template.clone();
        }
        let safe = |s: &str| -> String {
            let s = if s.is_empty() { "_" } else { s };
            s.chars()
                .map(|c| match self.broker {
                    Broker::Nats if c.is_ascii_alphanumeric() || c == '-' || c == '_' => c,
                    Broker::Nats => '_',
                    Broker::Mqtt if matches!(c, '/' | '+' | '#' | '{' | '}') || c.is_control() => {
                        '_'
                    }
                    Broker::Mqtt => c,
                })
                .collect()
        };
        self.template
            .replace("{account}", &safe(account))
            .replace("{share}", &safe(share))
            .replace("{event}", op.trigger())
    }
}

/// `host[:port]`, an IPv6 address in brackets.
fn host_port(text: &str, default: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(inner) = text.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("\"{text}\" has no closing ]"))?;
        (format!("[{addr}]"), after.strip_prefix(':'))
    } else {
        match text.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (text.to_owned(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err("has no host".to_owned());
    }
    if host.contains(|c: char| c.is_whitespace() || c.is_control() || "?#{}".contains(c)) {
        return Err(format!("\"{host}\" is not a host name"));
    }
    let port = match port {
        None => default,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("\"{p}\" is not a port"))?,
    };
    Ok((host, port))
}

/// Refuses a subject or topic the broker would refuse, or an unknown placeholder.
fn check_template(broker: Broker, template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("\"{template}\" has a {{ with no }}"))?;
        let name = &rest[start..start + end + 1];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "\"{name}\" is not a placeholder (these are: {})",
                PLACEHOLDERS.join(", ")
            ));
        }
        rest = &rest[start + end + 1..];
    }
    if template.contains('}') && template.matches('}').count() != template.matches('{').count() {
        return Err(format!("\"{template}\" has a }} with no {{"));
    }
    match broker {
        Broker::Nats => {
            if template
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(format!("the subject \"{template}\" holds a space"));
            }
            if template.split('.').any(|token| token.is_empty()) {
                return Err(format!("the subject \"{template}\" has an empty token"));
            }
            if template
                .split('.')
                .any(|token| token == "*" || token == ">")
            {
                return Err(format!(
                    "the subject \"{template}\" has a wildcard: publish to one subject"
                ));
            }
        }
        Broker::Mqtt => {
            if template.contains(['+', '#']) {
                return Err(format!(
                    "the topic \"{template}\" has a wildcard: publish to one topic"
                ));
            }
            if template.chars().any(char::is_control) {
                return Err(format!(
                    "the topic \"{template}\" holds a control character"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_urls_with_seeds_credentials_and_placeholders() {
        let u = BrokerUrl::parse(
            "nats://box:p%40ss@n1:4222,n2,[::1]:4333/files.{account}.{share}.{event}",
        )
        .unwrap();
        assert_eq!(u.broker, Broker::Nats);
        assert!(!u.tls);
        assert_eq!(
            u.servers,
            [
                ("n1".to_owned(), 4222),
                ("n2".to_owned(), 4222),
                ("[::1]".to_owned(), 4333)
            ]
        );
        assert_eq!(
            (u.user.as_deref(), u.password.as_deref()),
            (Some("box"), Some("p@ss"))
        );
        assert_eq!(
            u.subject("shop 12", "team.docs", Operation::CreateFolder),
            "files.shop_12.team_docs.createFolder"
        );
        let debug = format!("{u:?}");
        assert!(!debug.contains("p@ss") && !debug.contains("box"), "{debug}");
        let t = BrokerUrl::parse("tls://s3cret@h/ev").unwrap();
        assert!(t.tls);
        assert_eq!(
            (t.user.as_deref(), t.password.as_deref()),
            (Some("s3cret"), None)
        );
        assert_eq!(t.subject("a", "b", Operation::Upload), "ev");
    }

    #[test]
    fn mqtt_topics_keep_slashes_and_lose_wildcards_from_names() {
        let u = BrokerUrl::parse("mqtts://h/nas/{account}/{share}/{event}").unwrap();
        assert_eq!(u.servers, [("h".to_owned(), 8883)]);
        assert_eq!(
            u.subject("a/b", "s+#{share}", Operation::Delete),
            "nas/a_b/s___share_/delete"
        );
        assert_eq!(
            BrokerUrl::parse("mqtt://h:1884/t").unwrap().servers,
            [("h".to_owned(), 1884)]
        );
    }

    #[test]
    fn bad_broker_urls_say_what_is_wrong() {
        let err = |u: &str| BrokerUrl::parse(u).unwrap_err();
        assert!(err("nats://h").contains("names no subject"));
        assert!(err("nats://h/").contains("names no subject"));
        assert!(err("mqtt://h").contains("names no topic"));
        assert!(err("nats://h/a.*.b").contains("wildcard"));
        assert!(err("nats://h/a..b").contains("empty token"));
        assert!(err("nats://h/a b").contains("space"));
        assert!(err("mqtt://h/a/#").contains("wildcard"));
        assert!(err("nats://h/x.{user}").contains("\"{user}\" is not a placeholder"));
        assert!(err("nats://h/x.{share").contains("with no }"));
        assert!(err("nats://h:99999/x").contains("not a port"));
        assert!(err("nats://:4222/x").contains("no host"));
        assert!(err("mqtt://a,b/x").contains("more than one server"));
        assert!(err("nats://h?x/a").contains("in its servers"));
        let odd = BrokerUrl::parse("nats://u:se/c?r#t@h/x").unwrap();
        assert_eq!(odd.password.as_deref(), Some("se/c?r#t"));
        assert_eq!(broker_of("https://h/"), None);
        assert_eq!(broker_of("TLS://h/x"), Some(Broker::Nats));
        assert_eq!(broker_of("mqtts://h/x"), Some(Broker::Mqtt));
    }
}
