//! `sharehook user`, `sharehook apikey` and `sharehook token` on the command line: the words
//! read into an access request, the request sent to the running daemon or done on the state
//! when none runs, and the reply printed.

use serde::Serialize;

use crate::cli::Output;
use crate::config::Config;
use crate::core::event::{escape_controls, json_for_terminal};
use crate::service::access::requests::{Reply, Request, dispatch};
use crate::service::access::{AccessError, AuditEntry, Caller};

/// Reads the words after `user`, `apikey` or `token` (`sub`) into a request.
pub fn parse(
    sub: &str,
    words: &[String],
    role: Option<String>,
    description: Option<String>,
    key: Option<String>,
    user: Option<String>,
) -> Result<Request, String> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let id = |w: &str| {
        w.parse::<u32>().map_err(|_| {
            format!(
                "{sub} {}: ID is a number (see sharehook {sub} list)",
                words[0]
            )
        })
    };
    let request = match (sub, words.as_slice()) {
        ("user", ["add", name]) => Request::UserAdd {
            name: (*name).to_owned(),
            role: role
                .ok_or("user add needs --role admin or --role viewer")?
                .parse()
                .map_err(|e| AccessError::from(e).to_string())?,
            password: None,
        },
        ("user", ["list"]) => Request::UserList,
        ("user", ["passwd", name]) => Request::UserPasswd {
            name: (*name).to_owned(),
            password: None,
        },
        ("user", ["rm", name]) => Request::UserRm {
            name: (*name).to_owned(),
        },
        ("apikey", ["add", name]) => Request::ApikeyAdd {
            name: (*name).to_owned(),
            description: description.unwrap_or_default(),
        },
        ("apikey", ["list"]) => Request::ApikeyList,
        ("apikey", ["rm", key]) => Request::ApikeyRm {
            key: (*key).to_owned(),
        },
        ("token", ["add"]) => Request::TokenAdd {
            key: key.ok_or("token add needs --key KEY (an API key's id or value)")?,
            user: user.ok_or("token add needs --user NAME")?,
        },
        ("token", ["list"]) => Request::TokenList,
        ("token", ["regenerate", n]) => Request::TokenRegenerate { id: id(n)? },
        ("token", ["rm", n]) => Request::TokenRm { id: id(n)? },
        _ => return Err(usage(sub)),
    };
    Ok(request)
}

/// How the commands of `sub` are written: its lines of `sharehook --help`.
pub fn usage(sub: &str) -> String {
    crate::cli::manual::usage(sub)
}

/// The command line's side: through the running daemon, or on the state directly when none
/// runs.
pub fn run(config: &Config, request: Request) -> anyhow::Result<Reply> {
    let body = serde_json::to_vec(&request)?;
    if let Some(answer) =
        super::daemon::ask_daemon_with(&config.state_dir, hyper::Method::POST, "/access", body)?
    {
        return Ok(serde_json::from_value(answer)?);
    }
    let store = super::daemon::open_for_change(config)?;
    Ok(dispatch(
        &store,
        &config.account_name,
        &Caller::local(),
        request,
    )?)
}

/// Prints a reply: lists as lines or JSON, a change as its message and then, alone on the last
/// line, the secret it made.
pub fn print(reply: &Reply, output: Output) {
    match reply {
        Reply::Users { users } => print_list(users, output, |u| {
            format!("{}  {}  {}  created {}", u.id, u.name, u.role, u.created)
        }),
        Reply::Keys { keys } => print_list(keys, output, |k| {
            format!(
                "{}  {}  value {}…  created {}{}",
                k.id,
                k.name,
                k.hint,
                k.created,
                if k.description.is_empty() {
                    String::new()
                } else {
                    format!("  {}", k.description)
                }
            )
        }),
        Reply::Tokens { tokens } => print_list(tokens, output, |t| {
            format!(
                "{}  key {} \"{}\"  user {}  created {}  last used {}",
                t.id,
                t.key_id,
                t.key_name,
                t.user,
                t.created,
                t.last_used.as_deref().unwrap_or("never")
            )
        }),
        Reply::Done { message, secret } => {
            println!("{}", escape_controls(message));
            if let Some(secret) = secret {
                println!("{secret}");
            }
        }
    }
}

/// Prints the audit trail's rows.
pub fn print_audit(rows: &[AuditEntry], output: Output) {
    print_list(rows, output, |r| {
        format!("{}  {} from {}  {}", r.time, r.user, r.address, r.what)
    });
}

fn print_list<T: Serialize>(items: &[T], output: Output, line: impl Fn(&T) -> String) {
    match output {
        Output::Text => {
            for item in items {
                println!("{}", escape_controls(&line(item)));
            }
        }
        Output::JsonLines => {
            for item in items {
                print_json(item);
            }
        }
        Output::JsonArray => print_json(&items),
    }
}

/// One line of JSON, with no raw control character for the terminal.
fn print_json<T: Serialize + ?Sized>(value: &T) {
    let text = serde_json::to_string(value).expect("listings are plain data and always serialise");
    println!("{}", json_for_terminal(&text));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fault::Fault;
    use crate::service::access::Role;
    use crate::service::access::requests::answer;
    use crate::store::Store;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn commands_read_into_requests() {
        let none = || (None, None, None, None);
        type Options<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
        );
        type Case<'a> = (&'a str, Vec<&'a str>, Options<'a>, Result<Request, &'a str>);
        let apikey_usage = usage("apikey");
        let cases: Vec<Case> = vec![
            (
                "user",
                vec!["add", "ana"],
                (Some("viewer"), None, None, None),
                Ok(Request::UserAdd {
                    name: "ana".into(),
                    role: Role::Viewer,
                    password: None,
                }),
            ),
            (
                "user",
                vec!["add", "ana"],
                (Some("boss"), None, None, None),
                Err("role: \"boss\" is neither admin nor viewer"),
            ),
            (
                "user",
                vec!["add", "ana"],
                none(),
                Err("user add needs --role admin or --role viewer"),
            ),
            ("user", vec!["list"], none(), Ok(Request::UserList)),
            (
                "apikey",
                vec!["add", "sync"],
                (None, Some("nightly"), None, None),
                Ok(Request::ApikeyAdd {
                    name: "sync".into(),
                    description: "nightly".into(),
                }),
            ),
            (
                "token",
                vec!["add"],
                (None, None, Some("2"), Some("ana")),
                Ok(Request::TokenAdd {
                    key: "2".into(),
                    user: "ana".into(),
                }),
            ),
            (
                "token",
                vec!["regenerate", "x"],
                none(),
                Err("token regenerate: ID is a number (see sharehook token list)"),
            ),
            (
                "token",
                vec!["rm", "4"],
                none(),
                Ok(Request::TokenRm { id: 4 }),
            ),
            (
                "apikey",
                vec!["remove", "4"],
                none(),
                Err(apikey_usage.as_str()),
            ),
        ];
        for (sub, w, (role, description, key, user), expected) in cases {
            let got = parse(
                sub,
                &words(&w),
                role.map(str::to_owned),
                description.map(str::to_owned),
                key.map(str::to_owned),
                user.map(str::to_owned),
            );
            assert_eq!(got, expected.map_err(str::to_owned), "{sub} {w:?}");
        }
    }

    #[test]
    fn requests_cross_the_socket_unchanged() {
        let request = Request::UserAdd {
            name: "ana".into(),
            role: Role::Admin,
            password: Some("pw".into()),
        };
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(
            text,
            r#"{"op":"user-add","name":"ana","role":"admin","password":"pw"}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), request);
    }

    #[test]
    fn the_socket_refuses_what_is_not_a_request() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let err = answer(&store, "nas", br#"{"op":"format-disk"}"#).unwrap_err();
        assert_eq!(err.kind(), crate::core::fault::Kind::invalid("request"));
        let reply = answer(&store, "nas", br#"{"op":"user-list"}"#).unwrap();
        assert_eq!(reply, Reply::Users { users: vec![] });
    }
}
