//! API keys: listed, added (their value shown once, a hash kept), edited and removed.

use super::*;

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
pub(super) fn key_prefix(account_name: &str) -> String {
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
pub(super) fn find_key<'k>(keys: &'k [KeyRecord], key: &str) -> Result<&'k KeyRecord, AccessError> {
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

pub(super) fn key_view(k: &KeyRecord) -> ApiKey {
    ApiKey {
        id: k.id,
        name: k.name.clone(),
        description: k.description.clone(),
        hint: k.hint.clone(),
        created: rfc3339(k.created_ms),
        modified: rfc3339(k.modified_ms),
    }
}

pub(super) fn check_key_name(name: &str) -> Result<(), AccessError> {
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

pub(super) fn check_description(d: &str) -> Result<(), AccessError> {
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
