//! The access requests (`user`, `apikey` and `token`) and the one dispatcher that does them:
//! it serves both the command line on its own (no daemon runs: it opens the state itself)
//! and the control socket's `POST /access` (a daemon runs and holds the state). Either way
//! the change is made by `access` as `Caller::local()`.

use serde::{Deserialize, Serialize};

use super::{AccessError, ApiKey, Caller, NewApiKey, NewToken, Role, Token, User};
use crate::store::Store;

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
            let user = super::user_add(store, caller, &name, role, &password)?;
            let message = format!("user \"{}\" added ({})", user.name, user.role);
            done_with_password(message, made.then_some(password), SHOWN_ONCE)
        }
        Request::UserPasswd { name, password } => {
            let (password, made) = password_or_new(password)?;
            let user = super::user_set_password(store, caller, &name, &password)?;
            let message = format!("the password of user \"{}\" is set", user.name);
            done_with_password(message, made.then_some(password), SHOWN_ONCE)
        }
        Request::UserList => Reply::Users {
            users: super::user_list(store, caller)?,
        },
        Request::UserRm { name } => {
            super::user_remove(store, caller, &name)?;
            Reply::Done {
                message: format!("user \"{name}\" and its access tokens are removed"),
                secret: None,
            }
        }
        Request::ApikeyAdd { name, description } => {
            let NewApiKey { key, value } =
                super::apikey_add(store, caller, account_name, &name, &description)?;
            Reply::Done {
                message: format!(
                    "API key {} \"{}\" added; its value {SHOWN_ONCE} (sharehook keeps only a hash)",
                    key.id, key.name
                ),
                secret: Some(value),
            }
        }
        Request::ApikeyList => Reply::Keys {
            keys: super::apikey_list(store, caller)?,
        },
        Request::ApikeyRm { key } => {
            let key = super::apikey_remove(store, caller, &key)?;
            Reply::Done {
                message: format!(
                    "API key {} \"{}\" and its access tokens are removed",
                    key.id, key.name
                ),
                secret: None,
            }
        }
        Request::TokenAdd { key, user } => {
            let NewToken { token, value } = super::token_add(store, caller, &key, &user)?;
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
            tokens: super::token_list(store, caller)?,
        },
        Request::TokenRegenerate { id } => {
            let NewToken { token, value } = super::token_regenerate(store, caller, id)?;
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
            super::token_remove(store, caller, id)?;
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
        None => Ok((super::generate_password()?, true)),
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
