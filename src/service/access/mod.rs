//! Who may manage sharehook: users (with a role and a password), API keys and access tokens,
//! how a caller is recognised from a key and a token, and the audit trail of every change.
//! The service layer that the command line and the management API both call: plain values
//! in and out, errors that say their `fault::Kind`.
//!
//! Secrets are shown once, when they are made, and kept only as hashes: SHA-256 for keys and
//! tokens (random values, so a fast hash suffices), argon2id for passwords (chosen by people).

use serde::{Deserialize, Serialize};
use subtle::{ConditionallySelectable, ConstantTimeEq};

pub mod requests;

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

// ----- users -----

pub fn user_list(store: &Store, caller: &Caller) -> Result<Vec<User>, AccessError> {
    require_admin(caller, "list users")?;
    Ok(store.users()?.iter().map(user_view).collect())
}

/// The users `caller` may see (everyone for an admin, itself for a viewer), each with when
/// it last used one of its access tokens (ms since the epoch; a use is written at most once a
/// minute), read in one transaction.
pub fn users_visible_with_last_access(
    store: &Store,
    caller: &Caller,
) -> Result<Vec<(User, Option<i64>)>, AccessError> {
    let (users, tokens) = store.users_and_tokens()?;
    Ok(users
        .iter()
        .filter(|u| caller.role == Role::Admin || u.name == caller.user)
        .map(|u| {
            let last = tokens
                .iter()
                .filter(|t| t.user == u.id)
                .filter_map(|t| t.last_used_ms)
                .max();
            (user_view(u), last)
        })
        .collect())
}

/// Adds user `name` with `role` and `password`.
pub fn user_add(
    store: &Store,
    caller: &Caller,
    name: &str,
    role: Role,
    password: &str,
) -> Result<User, AccessError> {
    require_admin(caller, "add users")?;
    check_user_name(name)?;
    let phc = hash_password(password)?;
    let mut change = store.access_change()?;
    if change.users()?.iter().any(|u| u.name == name) {
        return Err(AccessError::Taken {
            what: "user",
            name: name.to_owned(),
        });
    }
    let now = now_ms();
    let record = UserRecord {
        id: change.next_id(IdOf::User)?,
        name: name.to_owned(),
        role,
        password: phc,
        created_ms: now,
        modified_ms: now,
    };
    change.put_user(&record)?;
    change.commit()?;
    audit(store, caller, &format!("added user \"{name}\" ({role})"));
    Ok(user_view(&record))
}

/// Sets the password of user `name`. An admin may set anyone's; a viewer only its own.
pub fn user_set_password(
    store: &Store,
    caller: &Caller,
    name: &str,
    password: &str,
) -> Result<User, AccessError> {
    user_set_password_keeping(store, caller, name, password).map(|(user, _)| user)
}

/// `user_set_password`, with the identity the new password gives the user, from the record
/// the change wrote: a session renewed with it stands for this password, not for one set
/// after it.
pub fn user_set_password_keeping(
    store: &Store,
    caller: &Caller,
    name: &str,
    password: &str,
) -> Result<(User, Identity), AccessError> {
    if caller.user != name {
        require_admin(caller, "set another user's password")?;
    }
    let phc = hash_password(password)?;
    let record = change_user(store, name, |_, user| {
        user.password = phc;
        Ok(())
    })?;
    audit(
        store,
        caller,
        &format!("set the password of user \"{name}\""),
    );
    Ok((user_view(&record), Identity::of(&record)))
}

/// Gives user `name` another role; the last admin stays one.
pub fn user_set_role(
    store: &Store,
    caller: &Caller,
    name: &str,
    role: Role,
) -> Result<User, AccessError> {
    require_admin(caller, "change roles")?;
    let record = change_user(store, name, |users, user| {
        if user.role == Role::Admin && role != Role::Admin && admins(users) == 1 {
            return Err(AccessError::LastAdmin(name.to_owned()));
        }
        user.role = role;
        Ok(())
    })?;
    audit(
        store,
        caller,
        &format!(
            "made user \"{name}\" a{} {role}",
            if role == Role::Admin { "n" } else { "" }
        ),
    );
    Ok(user_view(&record))
}

/// Removes user `name` and its access tokens. The last admin cannot be removed: the API
/// would be left with no one to manage it.
pub fn user_remove(store: &Store, caller: &Caller, name: &str) -> Result<(), AccessError> {
    require_admin(caller, "remove users")?;
    let mut change = store.access_change()?;
    let users = change.users()?;
    let user = find_user(&users, name)?;
    if user.role == Role::Admin && admins(&users) == 1 {
        return Err(AccessError::LastAdmin(name.to_owned()));
    }
    change.remove_user(user.id)?;
    let mut tokens = 0;
    for t in change.tokens()?.iter().filter(|t| t.user == user.id) {
        change.remove_token(t.id)?;
        tokens += 1;
    }
    change.commit()?;
    audit(
        store,
        caller,
        &format!("removed user \"{name}\" and its {tokens} access tokens"),
    );
    Ok(())
}

fn change_user(
    store: &Store,
    name: &str,
    f: impl FnOnce(&[UserRecord], &mut UserRecord) -> Result<(), AccessError>,
) -> Result<UserRecord, AccessError> {
    let mut change = store.access_change()?;
    let users = change.users()?;
    let mut user = find_user(&users, name)?.clone();
    f(&users, &mut user)?;
    user.modified_ms = now_ms();
    change.put_user(&user)?;
    change.commit()?;
    Ok(user)
}

fn find_user<'u>(users: &'u [UserRecord], name: &str) -> Result<&'u UserRecord, AccessError> {
    users.iter().find(|u| u.name == name).ok_or_else(|| {
        AccessError::NotFound(format!("no user is named \"{}\"", escape_controls(name)))
    })
}

fn admins(users: &[UserRecord]) -> usize {
    users.iter().filter(|u| u.role == Role::Admin).count()
}

fn user_view(u: &UserRecord) -> User {
    User {
        id: u.id,
        name: u.name.clone(),
        role: u.role,
        created: rfc3339(u.created_ms),
        modified: rfc3339(u.modified_ms),
    }
}

/// A user name: 1 to 64 characters, no control or bidirectional control character, no `/`,
/// not `.` nor `..` (names become parts of paths and URLs), and no space at either end nor a name of spaces
/// only: the sign-in form trims what is typed, so such a user could never sign in.
pub fn check_user_name(name: &str) -> Result<(), AccessError> {
    let bad = |detail: &str| AccessError::Invalid {
        field: "name",
        detail: detail.to_owned(),
    };
    let n = name.chars().count();
    if n == 0 {
        return Err(bad("a user name must not be empty"));
    }
    if n > NAME_MAX {
        return Err(bad(&format!(
            "a user name has at most {NAME_MAX} characters (this one has {n})"
        )));
    }
    if name.chars().any(crate::core::event::needs_escape) {
        return Err(bad(
            "a user name must not hold control or bidirectional control characters",
        ));
    }
    if name.trim().is_empty() {
        return Err(bad("a user name must not be only spaces"));
    }
    if name.trim() != name {
        return Err(bad("a user name must not begin or end with a space"));
    }
    if name.contains('/') {
        return Err(bad("a user name must not hold a /"));
    }
    // A browser reads a path segment `.` or `..` (even percent-encoded) as a step up.
    if name == "." || name == ".." {
        return Err(bad("a user name must not be . or .."));
    }
    Ok(())
}

/// A password as typed by a person: `PASSWORD_MIN` characters at least, `PASSWORD_MAX` bytes
/// at most. Checked only when a password is set; one set before the minimum still signs in.
fn check_password_text(password: &str) -> Result<(), AccessError> {
    let bad = |detail: String| AccessError::Invalid {
        field: "password",
        detail,
    };
    if password.is_empty() {
        return Err(bad("a password must not be empty".to_owned()));
    }
    let n = password.chars().count();
    if n < PASSWORD_MIN {
        return Err(bad(format!(
            "a password has at least {PASSWORD_MIN} characters (this one has {n})"
        )));
    }
    if password.len() > PASSWORD_MAX {
        return Err(bad(format!("a password has at most {PASSWORD_MAX} bytes")));
    }
    Ok(())
}

fn hash_password(password: &str) -> Result<String, AccessError> {
    check_password_text(password)?;
    let password = password.to_owned();
    crate::service::passwords::pool()
        .run_blocking(move || crate::service::passwords::hash(password.as_bytes()))?
        .map_err(|e| AccessError::Crypto(format!("hash the password: {e}")))
}

/// A new password for a user who was given none: 24 characters from an alphabet without
/// look-alikes (about 120 bits).
pub fn generate_password() -> Result<String, AccessError> {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 24];
    random(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
        .collect())
}

// ----- API keys -----

pub fn apikey_list(store: &Store, caller: &Caller) -> Result<Vec<ApiKey>, AccessError> {
    require_admin(caller, "list API keys")?;
    Ok(store.api_keys()?.iter().map(key_view).collect())
}

/// Makes an API key named `name`; its value, `<account_name>-<32 hex digits>`, is in the
/// answer and nowhere else.
pub fn apikey_add(
    store: &Store,
    caller: &Caller,
    account_name: &str,
    name: &str,
    description: &str,
) -> Result<NewApiKey, AccessError> {
    require_admin(caller, "add API keys")?;
    check_key_name(name)?;
    check_description(description)?;
    let random_part = random_hex(16)?;
    let value = format!("{}-{random_part}", key_prefix(account_name));
    let mut change = store.access_change()?;
    if change.api_keys()?.iter().any(|k| k.name == name) {
        return Err(AccessError::Taken {
            what: "API key",
            name: name.to_owned(),
        });
    }
    let now = now_ms();
    let record = KeyRecord {
        id: change.next_id(IdOf::Key)?,
        name: name.to_owned(),
        description: description.to_owned(),
        hash: sha256(&value).to_vec(),
        hint: random_part[..4].to_owned(),
        created_ms: now,
        modified_ms: now,
    };
    change.put_key(&record)?;
    change.commit()?;
    audit(
        store,
        caller,
        &format!("added API key {} \"{name}\"", record.id),
    );
    Ok(NewApiKey {
        key: key_view(&record),
        value,
    })
}

/// The account name as a key's value begins with it: only what is safe in an HTTP header and
/// a shell word (ASCII letters, digits, `.`, `_`, `-`) is kept.
fn key_prefix(account_name: &str) -> String {
    let kept: String = account_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    if kept.is_empty() {
        "sharehook".to_owned()
    } else {
        kept
    }
}

/// Changes the name or the description of API key `id`.
pub fn apikey_edit(
    store: &Store,
    caller: &Caller,
    id: u32,
    name: Option<&str>,
    description: Option<&str>,
) -> Result<ApiKey, AccessError> {
    require_admin(caller, "change API keys")?;
    if let Some(name) = name {
        check_key_name(name)?;
    }
    if let Some(d) = description {
        check_description(d)?;
    }
    let mut change = store.access_change()?;
    let keys = change.api_keys()?;
    let mut key = find_key(&keys, &id.to_string())?.clone();
    if let Some(name) = name {
        if keys.iter().any(|k| k.name == name && k.id != id) {
            return Err(AccessError::Taken {
                what: "API key",
                name: name.to_owned(),
            });
        }
        key.name = name.to_owned();
    }
    if let Some(d) = description {
        key.description = d.to_owned();
    }
    key.modified_ms = now_ms();
    change.put_key(&key)?;
    change.commit()?;
    audit(store, caller, &format!("changed API key {id}"));
    Ok(key_view(&key))
}

/// Removes API key `key` (its id or its value) and every access token made for it.
pub fn apikey_remove(store: &Store, caller: &Caller, key: &str) -> Result<ApiKey, AccessError> {
    require_admin(caller, "remove API keys")?;
    let mut change = store.access_change()?;
    let keys = change.api_keys()?;
    let record = find_key(&keys, key)?.clone();
    change.remove_key(record.id)?;
    let mut tokens = 0;
    for t in change.tokens()?.iter().filter(|t| t.key == record.id) {
        change.remove_token(t.id)?;
        tokens += 1;
    }
    change.commit()?;
    audit(
        store,
        caller,
        &format!(
            "removed API key {} \"{}\" and its {tokens} access tokens",
            record.id, record.name
        ),
    );
    Ok(key_view(&record))
}

/// The key that `key` names: an id, else a key's value.
fn find_key<'k>(keys: &'k [KeyRecord], key: &str) -> Result<&'k KeyRecord, AccessError> {
    let found = match key.parse::<u32>() {
        Ok(id) => keys.iter().find(|k| k.id == id),
        Err(_) => {
            let hash = sha256(key);
            keys.iter().find(|k| k.hash == hash)
        }
    };
    found.ok_or_else(|| match key.parse::<u32>() {
        Ok(id) => AccessError::NotFound(format!("no API key has id {id}")),
        // Never echo what may be a secret.
        Err(_) => AccessError::NotFound("no API key has that value".to_owned()),
    })
}

fn key_view(k: &KeyRecord) -> ApiKey {
    ApiKey {
        id: k.id,
        name: k.name.clone(),
        description: k.description.clone(),
        hint: k.hint.clone(),
        created: rfc3339(k.created_ms),
        modified: rfc3339(k.modified_ms),
    }
}

fn check_key_name(name: &str) -> Result<(), AccessError> {
    let n = name.chars().count();
    let detail = if n == 0 {
        "an API key's name must not be empty".to_owned()
    } else if n > KEY_NAME_MAX {
        format!("an API key's name has at most {KEY_NAME_MAX} characters (this one has {n})")
    } else if name.chars().any(crate::core::event::needs_escape) {
        "an API key's name must not hold control or bidirectional control characters".to_owned()
    } else {
        return Ok(());
    };
    Err(AccessError::Invalid {
        field: "name",
        detail,
    })
}

fn check_description(d: &str) -> Result<(), AccessError> {
    let n = d.chars().count();
    let detail = if n > DESCRIPTION_MAX {
        format!("a description has at most {DESCRIPTION_MAX} characters (this one has {n})")
    } else if d.chars().any(crate::core::event::needs_escape) {
        "a description must not hold control or bidirectional control characters".to_owned()
    } else {
        return Ok(());
    };
    Err(AccessError::Invalid {
        field: "description",
        detail,
    })
}

// ----- access tokens -----

pub fn token_list(store: &Store, caller: &Caller) -> Result<Vec<Token>, AccessError> {
    require_admin(caller, "list access tokens")?;
    let keys = store.api_keys()?;
    let users = store.users()?;
    Ok(store
        .access_tokens()?
        .iter()
        .map(|t| token_view(t, &keys, &users))
        .collect())
}

/// Makes an access token for user `user` with API key `key` (its id or value).
pub fn token_add(
    store: &Store,
    caller: &Caller,
    key: &str,
    user: &str,
) -> Result<NewToken, AccessError> {
    require_admin(caller, "add access tokens")?;
    let value = random_hex(32)?;
    let mut change = store.access_change()?;
    let keys = change.api_keys()?;
    let users = change.users()?;
    let k = find_key(&keys, key)?;
    let u = find_user(&users, user)?;
    let record = TokenRecord {
        id: change.next_id(IdOf::Token)?,
        key: k.id,
        user: u.id,
        hash: sha256(&value).to_vec(),
        created_ms: now_ms(),
        last_used_ms: None,
    };
    change.put_token(&record)?;
    change.commit()?;
    audit(
        store,
        caller,
        &format!(
            "added access token {} for user \"{}\" with API key {}",
            record.id, u.name, k.id
        ),
    );
    Ok(NewToken {
        token: token_view(&record, &keys, &users),
        value,
    })
}

/// Gives access token `id` a new value; the old one stops working at once.
pub fn token_regenerate(store: &Store, caller: &Caller, id: u32) -> Result<NewToken, AccessError> {
    require_admin(caller, "regenerate access tokens")?;
    let value = random_hex(32)?;
    let mut change = store.access_change()?;
    let mut record = find_token(&change, id)?;
    record.hash = sha256(&value).to_vec();
    record.created_ms = now_ms();
    record.last_used_ms = None;
    change.put_token(&record)?;
    let (keys, users) = (change.api_keys()?, change.users()?);
    change.commit()?;
    audit(store, caller, &format!("regenerated access token {id}"));
    Ok(NewToken {
        token: token_view(&record, &keys, &users),
        value,
    })
}

pub fn token_remove(store: &Store, caller: &Caller, id: u32) -> Result<Token, AccessError> {
    require_admin(caller, "remove access tokens")?;
    let mut change = store.access_change()?;
    let record = find_token(&change, id)?;
    change.remove_token(id)?;
    let (keys, users) = (change.api_keys()?, change.users()?);
    change.commit()?;
    audit(store, caller, &format!("removed access token {id}"));
    Ok(token_view(&record, &keys, &users))
}

fn find_token(change: &AccessChange<'_>, id: u32) -> Result<TokenRecord, AccessError> {
    change
        .tokens()?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| AccessError::NotFound(format!("no access token has id {id}")))
}

fn token_view(t: &TokenRecord, keys: &[KeyRecord], users: &[UserRecord]) -> Token {
    Token {
        id: t.id,
        key_id: t.key,
        key_name: keys
            .iter()
            .find(|k| k.id == t.key)
            .map(|k| k.name.clone())
            .unwrap_or_default(),
        user: users
            .iter()
            .find(|u| u.id == t.user)
            .map(|u| u.name.clone())
            .unwrap_or_default(),
        created: rfc3339(t.created_ms),
        last_used: t.last_used_ms.map(rfc3339),
    }
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
