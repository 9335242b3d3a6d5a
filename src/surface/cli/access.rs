//! `sharehook user`, `sharehook apikey` and `sharehook token`: one request type and one
//! dispatcher, which serve both the command line on its own (no daemon runs: it opens the
//! state itself) and the control socket's `POST /access` (a daemon runs and holds the state).
//! Either way the change is made by `access` as `Caller::local()`.

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::core::event::{escape_controls, json_for_terminal};
use crate::service::access::{
    self, AccessError, ApiKey, AuditEntry, Caller, NewApiKey, NewToken, Role, Token, User,
};
use crate::store::Store;
use crate::surface::cli::Output;

/// One command, as the control socket carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Without a password, one is made and answered.
    UserAdd {
        name: String,
        role: Role,
        password: Option<String>,
    },
    UserList,
    UserPasswd {
        name: String,
        password: Option<String>,
    },
    UserRm {
        name: String,
    },
    ApikeyAdd {
        name: String,
        description: String,
    },
    ApikeyList,
    /// `key`: the key's id or its value.
    ApikeyRm {
        key: String,
    },
    TokenAdd {
        key: String,
        user: String,
    },
    TokenList,
    TokenRegenerate {
        id: u32,
    },
    TokenRm {
        id: u32,
    },
}

impl Request {
    /// Gives the request the password read from standard input, if it takes one.
    pub fn set_password(&mut self, value: String) {
        if let Request::UserAdd { password, .. } | Request::UserPasswd { password, .. } = self {
            *password = Some(value);
        }
    }

    pub fn takes_password(&self) -> bool {
        matches!(self, Request::UserAdd { .. } | Request::UserPasswd { .. })
    }
}

/// What a command answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reply {
    Users {
        users: Vec<User>,
    },
    Keys {
        keys: Vec<ApiKey>,
    },
    Tokens {
        tokens: Vec<Token>,
    },
    /// What was done, and the secret made for it (shown this once).
    Done {
        message: String,
        secret: Option<String>,
    },
}

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
                .map_err(|e: AccessError| e.to_string())?,
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
    crate::surface::cli::manual::usage(sub)
}

/// Does `request` as `caller`; `account_name` begins the value of a new API key.
pub fn dispatch(
    store: &Store,
    account_name: &str,
    caller: &Caller,
    request: Request,
) -> Result<Reply, AccessError> {
    const SHOWN_ONCE: &str = "is on the next line; it is shown only now";
    let reply = match request {
        Request::UserAdd {
            name,
            role,
            password,
        } => {
            let (password, made) = password_or_new(password)?;
            let user = access::user_add(store, caller, &name, role, &password)?;
            let message = format!("user \"{}\" added ({})", user.name, user.role);
            done_with_password(message, made.then_some(password), SHOWN_ONCE)
        }
        Request::UserPasswd { name, password } => {
            let (password, made) = password_or_new(password)?;
            let user = access::user_set_password(store, caller, &name, &password)?;
            let message = format!("the password of user \"{}\" is set", user.name);
            done_with_password(message, made.then_some(password), SHOWN_ONCE)
        }
        Request::UserList => Reply::Users {
            users: access::user_list(store, caller)?,
        },
        Request::UserRm { name } => {
            access::user_remove(store, caller, &name)?;
            Reply::Done {
                message: format!("user \"{name}\" and its access tokens are removed"),
                secret: None,
            }
        }
        Request::ApikeyAdd { name, description } => {
            let NewApiKey { key, value } =
                access::apikey_add(store, caller, account_name, &name, &description)?;
            Reply::Done {
                message: format!(
                    "API key {} \"{}\" added; its value {SHOWN_ONCE} (sharehook keeps only a hash)",
                    key.id, key.name
                ),
                secret: Some(value),
            }
        }
        Request::ApikeyList => Reply::Keys {
            keys: access::apikey_list(store, caller)?,
        },
        Request::ApikeyRm { key } => {
            let key = access::apikey_remove(store, caller, &key)?;
            Reply::Done {
                message: format!(
                    "API key {} \"{}\" and its access tokens are removed",
                    key.id, key.name
                ),
                secret: None,
            }
        }
        Request::TokenAdd { key, user } => {
            let NewToken { token, value } = access::token_add(store, caller, &key, &user)?;
            Reply::Done {
                message: format!(
                    "access token {} added for user \"{}\" with API key {} \"{}\"; its value \
                     {SHOWN_ONCE} (sharehook keeps only a hash)",
                    token.id, token.user, token.key_id, token.key_name
                ),
                secret: Some(value),
            }
        }
        Request::TokenList => Reply::Tokens {
            tokens: access::token_list(store, caller)?,
        },
        Request::TokenRegenerate { id } => {
            let NewToken { token, value } = access::token_regenerate(store, caller, id)?;
            Reply::Done {
                message: format!(
                    "access token {} has a new value, and the old one no longer works; the new \
                     one {SHOWN_ONCE}",
                    token.id
                ),
                secret: Some(value),
            }
        }
        Request::TokenRm { id } => {
            access::token_remove(store, caller, id)?;
            Reply::Done {
                message: format!("access token {id} is removed"),
                secret: None,
            }
        }
    };
    Ok(reply)
}

fn password_or_new(given: Option<String>) -> Result<(String, bool), AccessError> {
    match given {
        Some(p) => Ok((p, false)),
        None => Ok((access::generate_password()?, true)),
    }
}

fn done_with_password(message: String, made: Option<String>, shown_once: &str) -> Reply {
    match made {
        Some(password) => Reply::Done {
            message: format!("{message}; its new password {shown_once}"),
            secret: Some(password),
        },
        None => Reply::Done {
            message,
            secret: None,
        },
    }
}

/// The control socket's side: a request as JSON in, the reply as JSON out.
pub fn answer(store: &Store, account_name: &str, body: &[u8]) -> Result<Reply, AccessError> {
    let request: Request = serde_json::from_slice(body).map_err(|e| AccessError::Invalid {
        field: "request",
        detail: format!("not an access request: {e}"),
    })?;
    dispatch(store, account_name, &Caller::local(), request)
}

/// The command line's side: through the running daemon, or on the state directly when none
/// runs.
pub fn run(config: &Config, request: Request) -> anyhow::Result<Reply> {
    let body = serde_json::to_vec(&request)?;
    if let Some(answer) = crate::service::activity::ask_daemon_with(
        &config.state_dir,
        hyper::Method::POST,
        "/access",
        body,
    )? {
        return Ok(serde_json::from_value(answer)?);
    }
    let store = crate::service::activity::open_for_change(config)?;
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
