//! Access tokens: each for one user with one API key; listed, added, regenerated and
//! removed (a value shown once, a hash kept).

use super::*;

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

pub(super) fn find_token(change: &AccessChange<'_>, id: u32) -> Result<TokenRecord, AccessError> {
    change
        .tokens()?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| AccessError::NotFound(format!("no access token has id {id}")))
}

pub(super) fn token_view(t: &TokenRecord, keys: &[KeyRecord], users: &[UserRecord]) -> Token {
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
