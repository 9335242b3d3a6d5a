//! Who may manage sharehook: users (with a role and a password), API keys and access tokens,
//! how a caller is recognised from a key and a token, and the audit trail of every change.
//! The service layer that the command line and the management API both call: plain values
//! in and out, errors that say their `fault::Kind`.
//!
//! Secrets are shown once, when they are made, and kept only as hashes: SHA-256 for keys and
//! tokens (random values, so a fast hash suffices), argon2id for passwords (chosen by people).

mod keys;
pub mod requests;
mod tokens;
mod users;

pub use keys::*;
pub use tokens::*;
pub use users::*;

use serde::{Deserialize, Serialize};
use subtle::{ConditionallySelectable, ConstantTimeEq};

pub use crate::core::role::{Role, UnknownRole};

use crate::core::event::escape_controls;
use crate::core::fault::{Fault, Kind};
use crate::core::payload::rfc3339;
use crate::store::{
    AccessChange, AccessSnapshot, AuditRecord, IdOf, KeyRecord, Store, StoreError, TokenRecord,
    UserRecord,
};

/// The audit trail keeps this many rows; older ones are dropped.
pub const AUDIT_KEEP: u64 = 10_000;
/// The longest user name, in characters.
pub const NAME_MAX: usize = 64;
/// The longest API key name, in characters.
const KEY_NAME_MAX: usize = 128;
const DESCRIPTION_MAX: usize = 1024;
/// The longest password, in bytes: argon2 takes any length, but a request must not make
/// the server hash megabytes.
const PASSWORD_MAX: usize = 1024;
/// The shortest password a person may type, in characters: the page is reachable from the
/// LAN, and sign-ins are limited per address, not per guess of a weak password. Made-up
/// passwords have 24.
pub const PASSWORD_MIN: usize = 10;
/// A token's last use is written at most this often.
const LAST_USED_COARSE_MS: i64 = 60_000;

/// Who asks for something: the user, its role, and the client's address (for the audit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub user: String,
    pub role: Role,
    pub address: String,
}

impl Caller {
    /// The command line on this machine: it may do everything (whoever can run it can read
    /// the state file anyway).
    pub fn local() -> Caller {
        Caller {
            user: "root".to_owned(),
            role: Role::Admin,
            address: "local".to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    #[error("{what} \"{name}\" already exists")]
    Taken { what: &'static str, name: String },
    #[error("{0}")]
    NotFound(String),
    #[error("user \"{0}\" is the last admin: add another admin first")]
    LastAdmin(String),
    #[error("user \"{user}\" is a viewer: only an admin may {action}")]
    Forbidden { user: String, action: &'static str },
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot {0}")]
    Crypto(String),
    #[error("{0}")]
    Busy(#[from] crate::service::passwords::Busy),
}

impl From<UnknownRole> for AccessError {
    fn from(e: UnknownRole) -> AccessError {
        AccessError::Invalid {
            field: "role",
            detail: format!("\"{}\" is neither admin nor viewer", escape_controls(&e.0)),
        }
    }
}

impl Fault for AccessError {
    fn kind(&self) -> Kind {
        match self {
            AccessError::Invalid { field, .. } => Kind::invalid(*field),
            AccessError::Taken { .. } | AccessError::LastAdmin(_) => Kind::Conflict,
            AccessError::NotFound(_) => Kind::NotFound,
            AccessError::Forbidden { .. } => Kind::Forbidden,
            AccessError::Store(_) | AccessError::Crypto(_) => Kind::Internal,
            AccessError::Busy(_) => Kind::Busy,
        }
    }
}

/// Why a caller was not recognised. Every wrong key, token or password is the one variant
/// `Invalid`, so that an answer never tells which part was wrong.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the credentials are not valid")]
    Invalid,
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// A user as listings show it (never its password).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: u32,
    pub name: String,
    pub role: Role,
    pub created: String,
    pub modified: String,
}

/// An API key as listings show it: its value is never shown again, only its hint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: u32,
    pub name: String,
    pub description: String,
    /// The first characters of the random part of the value.
    pub hint: String,
    pub created: String,
    pub modified: String,
}

/// An access token as listings show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub id: u32,
    pub key_id: u32,
    pub key_name: String,
    pub user: String,
    pub created: String,
    pub last_used: Option<String>,
}

/// A key just made, with its value (shown this once).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewApiKey {
    pub key: ApiKey,
    pub value: String,
}

/// A token just made or regenerated, with its value (shown this once).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewToken {
    pub token: Token,
    pub value: String,
}

/// One row of the audit trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: u64,
    pub time: String,
    pub user: String,
    pub address: String,
    pub what: String,
}

// ----- recognising a caller -----

/// The user that holds `api_key` and `token`. The caller's `address` is left empty for the
/// front end to fill.
///
/// Every key and every token is compared, in constant time, whatever matches: how long it
/// takes tells nothing of whether the key exists or which part was wrong.
pub fn authenticate(store: &Store, api_key: &str, token: &str) -> Result<Caller, AuthError> {
    let key_hash = sha256(api_key);
    let token_hash = sha256(token);
    let AccessSnapshot {
        users,
        keys,
        tokens,
    } = store.access_snapshot()?;
    // Ids start at 1: 0 is "none matched".
    let mut key_id = 0u32;
    for k in &keys {
        let same = k.hash.as_slice().ct_eq(&key_hash[..]);
        key_id.conditional_assign(&k.id, same);
    }
    let (mut token_id, mut user_id) = (0u32, 0u32);
    for t in &tokens {
        let same = t.hash.as_slice().ct_eq(&token_hash[..]) & t.key.ct_eq(&key_id);
        token_id.conditional_assign(&t.id, same);
        user_id.conditional_assign(&t.user, same);
    }
    if key_id == 0 || token_id == 0 {
        return Err(AuthError::Invalid);
    }
    let user = users
        .into_iter()
        .find(|u| u.id == user_id)
        .ok_or(AuthError::Invalid)?;
    if let Err(e) = store.token_used(token_id, now_ms(), LAST_USED_COARSE_MS) {
        log::debug!("cannot note when access token {token_id} was used: {e}");
    }
    Ok(Caller {
        user: user.name,
        role: user.role,
        address: String::new(),
    })
}

/// What a page session stands for: one user (by its id, never given twice, so a user removed
/// and added again under the same name is another) with one password (a digest of its stored
/// hash, whose salt is new at each change). A session ends when either changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: u32,
    pub password: [u8; 16],
}

impl Identity {
    fn of(user: &UserRecord) -> Identity {
        let digest = sha256(&user.password);
        let mut password = [0u8; 16];
        password.copy_from_slice(&digest[..16]);
        Identity {
            user: user.id,
            password,
        }
    }
}

/// The user `identity` stands for, as it is now (its name and role may have changed); `None`
/// when it was removed or its password changed since.
pub fn signed_in(store: &Store, identity: &Identity) -> Result<Option<Caller>, StoreError> {
    Ok(store
        .users()?
        .iter()
        .find(|u| u.id == identity.user)
        .filter(|u| bool::from(Identity::of(u).password.ct_eq(&identity.password)))
        .map(|u| Caller {
            user: u.name.clone(),
            role: u.role,
            address: String::new(),
        }))
}

/// Wakes each time users, keys or tokens change, through the API, the page or the command
/// line (the control socket): what stands for a user re-checks it then, not at its next use.
pub fn changes(store: &Store) -> tokio::sync::watch::Receiver<u64> {
    store.access_changes()
}

/// The role of user `name` now; `None` when there is no such user (any more).
pub fn user_role(store: &Store, name: &str) -> Result<Option<Role>, StoreError> {
    Ok(store
        .users()?
        .into_iter()
        .find(|u| u.name == name)
        .map(|u| u.role))
}

/// The user named `user`, when `password` is its password, with its identity for a session.
/// An unknown user costs the same work as a known one (a dummy hash is checked).
pub fn check_password(
    store: &Store,
    user: &str,
    password: &str,
) -> Result<(Caller, Identity), AuthError> {
    match password_check(store, user, password)? {
        PasswordCheck::Right(caller, identity) => Ok((caller, identity)),
        PasswordCheck::Wrong { .. } => Err(AuthError::Invalid),
    }
}

/// What a password check found, for the sign-in form alone: whether a wrong name was a user's
/// decides whether it may be written to the journal (a name that is no user's may be a
/// password typed into the wrong field). Never shown to the person signing in.
pub enum PasswordCheck {
    Right(Caller, Identity),
    Wrong { user_exists: bool },
}

/// `check_password`, saying whether a wrong name was a user's.
pub fn password_check(
    store: &Store,
    user: &str,
    password: &str,
) -> Result<PasswordCheck, StoreError> {
    let users = store.users()?;
    let found = users.iter().find(|u| u.name == user);
    let phc = match found {
        Some(u) => u.password.as_str(),
        None => DUMMY_HASH,
    };
    let ok = crate::service::passwords::verify(password.as_bytes(), phc);
    Ok(match found {
        Some(u) if ok => PasswordCheck::Right(
            Caller {
                user: u.name.clone(),
                role: u.role,
                address: String::new(),
            },
            Identity::of(u),
        ),
        _ => PasswordCheck::Wrong {
            user_exists: found.is_some(),
        },
    })
}

/// A hash of no one's password (a random one, forgotten), with the parameters real ones
/// get: checking a password against it costs what checking a real one does.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$O6p3CJIVK8ktQeB/dZvIeg$I/Ijd8e2oBB0EIQGzbPLXx3RCy4MnRFDfLpmKebDrsM";

// ----- the audit trail -----

/// Records a change made by `caller`: a line in the journal and a row in the state (the
/// newest `AUDIT_KEEP` are kept). `what` never holds a secret. A row that cannot be kept is
/// logged as an error; the change itself is done by then.
pub fn audit(store: &Store, caller: &Caller, what: &str) {
    log::info!(
        "{}",
        escape_controls(&format!(
            "audit: {} ({}) from {}: {what}",
            caller.user, caller.role, caller.address
        ))
    );
    let row = AuditRecord {
        id: 0,
        time_ms: now_ms(),
        user: caller.user.clone(),
        address: caller.address.clone(),
        what: what.to_owned(),
    };
    if let Err(e) = store.audit_add(&row, AUDIT_KEEP) {
        log::error!(
            "the audit trail could not keep \"{}\": {e}",
            escape_controls(what)
        );
    }
}

/// The newest `limit` rows of the audit trail, newest first.
pub fn audit_list(store: &Store, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
    Ok(store
        .audit_rows(limit)?
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            time: rfc3339(r.time_ms),
            user: r.user,
            address: r.address,
            what: r.what,
        })
        .collect())
}

// ----- helpers -----

fn require_admin(caller: &Caller, action: &'static str) -> Result<(), AccessError> {
    match caller.role {
        Role::Admin => Ok(()),
        Role::Viewer => Err(AccessError::Forbidden {
            user: caller.user.clone(),
            action,
        }),
    }
}

pub fn sha256(value: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

fn random(buf: &mut [u8]) -> Result<(), AccessError> {
    getrandom::fill(buf).map_err(|e| AccessError::Crypto(format!("get random numbers: {e}")))
}

/// `bytes` random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> Result<String, AccessError> {
    let mut buf = vec![0u8; bytes];
    random(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn now_ms() -> i64 {
    crate::deliver::now_ms()
}

#[cfg(test)]
mod tests;
