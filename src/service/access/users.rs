//! Users: listed, added, given a password or a role, removed; their names and passwords
//! checked, and passwords hashed off the async threads.

use super::*;

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

pub(super) fn change_user(
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

pub(super) fn find_user<'u>(
    users: &'u [UserRecord],
    name: &str,
) -> Result<&'u UserRecord, AccessError> {
    users.iter().find(|u| u.name == name).ok_or_else(|| {
        AccessError::NotFound(format!("no user is named \"{}\"", escape_controls(name)))
    })
}

pub(super) fn admins(users: &[UserRecord]) -> usize {
    users.iter().filter(|u| u.role == Role::Admin).count()
}

pub(super) fn user_view(u: &UserRecord) -> User {
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
pub(super) fn check_password_text(password: &str) -> Result<(), AccessError> {
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

pub(super) fn hash_password(password: &str) -> Result<String, AccessError> {
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
