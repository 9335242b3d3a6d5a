//! `/developer` (admins): users (add, role, password, remove), API keys (new, edit, delete)
//! and access tokens (new for a key and a user, regenerate, delete), as ExaVault's Developer
//! page had them. A new key, token or generated password is shown once, with a copy button.

use std::sync::Arc;

use axum::extract::Path;
use maud::html;

use super::view::Flash;
use super::view::{self, csrf, time_text};
use super::{PageError, PageResult, Posted, Visitor, blocking, render, see};
use crate::service::access::{self, AccessError, Caller, Role};
use crate::store::Store;

fn fault(e: AccessError) -> PageError {
    PageError::from_fault(&e)
}

pub async fn page(visitor: Visitor) -> PageResult {
    visitor.must_be_admin()?;
    let store = Arc::clone(&visitor.state.control.store);
    let caller = visitor.caller.clone();
    let (users, keys, tokens) = blocking(move || {
        Ok((
            access::user_list(&store, &caller).map_err(fault)?,
            access::apikey_list(&store, &caller).map_err(fault)?,
            access::token_list(&store, &caller).map_err(fault)?,
        ))
    })
    .await?;
    render(view::frame(
        &visitor,
        "/developer",
        "Developer",
        None,
        html! {
            h1 { "Developer" }
            p.muted {
                "Scripts sign in to " code { "/api/v2" } " with an API key (header " code { "ev-api-key" }
                ") and an access token (" code { "ev-access-token" } "), which acts as its user."
            }
            section #users aria-labelledby="users-h" {
                h2 #users-h { "Users" }
                table.cards {
                    thead { tr { th { "Name" } th { "Role" } th { "Created" } th { "Change" } } }
                    tbody {
                        @for u in &users {
                            tr.user data-user=(u.name) {
                                td data-label="Name" { strong { (u.name) } }
                                td data-label="Role" { (u.role) }
                                td data-label="Created" { (time_text(&u.created)) }
                                td.actions data-label="Change" {
                                    form.inline method="post" action=(format!("/developer/users/{}", view::encode(&u.name))) {
                                        (csrf(&visitor))
                                        label.sr for=(format!("role-{}", u.id)) { "Role of " (u.name) }
                                        select id=(format!("role-{}", u.id)) name="role" {
                                            option value="admin" selected[u.role == Role::Admin] { "admin" }
                                            option value="viewer" selected[u.role == Role::Viewer] { "viewer" }
                                        }
                                        label.sr for=(format!("password-{}", u.id)) { "New password for " (u.name) }
                                        input id=(format!("password-{}", u.id)) name="password" type="password"
                                            placeholder="new password (optional)" autocomplete="new-password"
                                            minlength=(access::PASSWORD_MIN);
                                        button type="submit" { "Save" }
                                    }
                                    (view::button(&visitor, &format!("/developer/users/{}/remove", view::encode(&u.name)), "remove danger", "Remove"))
                                }
                            }
                        }
                    }
                }
                form #user-add.inline-form method="post" action="/developer/users" {
                    (csrf(&visitor))
                    div { label for="new-user" { "Name" } input #new-user name="name" required autocomplete="off"; }
                    div {
                        label for="new-role" { "Role" }
                        select #new-role name="role" { option value="viewer" { "viewer" } option value="admin" { "admin" } }
                    }
                    div {
                        label for="new-password" { "Password (" (access::PASSWORD_MIN) " characters or more; empty: one is made)" }
                        input #new-password name="password" type="password" autocomplete="new-password"
                            minlength=(access::PASSWORD_MIN);
                    }
                    div.buttons { button.primary type="submit" { "Add user" } }
                }
            }
            section #apikeys aria-labelledby="keys-h" {
                h2 #keys-h { "API keys" }
                table.cards {
                    thead { tr { th { "Name" } th { "Description" } th { "Key begins" } th { "Created" } th { "Change" } } }
                    tbody {
                        @for k in &keys {
                            tr.apikey data-key-id=(k.id) {
                                td data-label="Name" { strong { (k.name) } }
                                td data-label="Description" { (k.description) }
                                td data-label="Key begins" { code { (k.hint) "…" } }
                                td data-label="Created" { (time_text(&k.created)) }
                                td.actions data-label="Change" {
                                    form.inline method="post" action=(format!("/developer/keys/{}", k.id)) {
                                        (csrf(&visitor))
                                        label.sr for=(format!("key-name-{}", k.id)) { "Name" }
                                        input id=(format!("key-name-{}", k.id)) name="name" value=(k.name) required;
                                        label.sr for=(format!("key-desc-{}", k.id)) { "Description" }
                                        input id=(format!("key-desc-{}", k.id)) name="description" value=(k.description) placeholder="description";
                                        button type="submit" { "Save" }
                                    }
                                    (view::button(&visitor, &format!("/developer/keys/{}/remove", k.id), "remove danger", "Delete"))
                                }
                            }
                        }
                        @if keys.is_empty() { (view::empty_row(5, "No API key yet.")) }
                    }
                }
                form #key-add.inline-form method="post" action="/developer/keys" {
                    (csrf(&visitor))
                    div { label for="key-name" { "Name" } input #key-name name="name" required autocomplete="off"; }
                    div { label for="key-description" { "Description" } input #key-description name="description"; }
                    div.buttons { button.primary type="submit" { "New API key" } }
                }
            }
            section #tokens aria-labelledby="tokens-h" {
                h2 #tokens-h { "Access tokens" }
                table.cards {
                    thead { tr { th { "#" } th { "API key" } th { "User" } th { "Created" } th { "Last used" } th { "Change" } } }
                    tbody {
                        @for t in &tokens {
                            tr.token data-token-id=(t.id) {
                                td data-label="#" { (t.id) }
                                td data-label="API key" { (t.key_name) }
                                td data-label="User" { (t.user) }
                                td data-label="Created" { (time_text(&t.created)) }
                                td data-label="Last used" { @match &t.last_used { Some(u) => { (time_text(u)) } None => { "never" } } }
                                td.actions data-label="Change" {
                                    (view::button(&visitor, &format!("/developer/tokens/{}/regenerate", t.id), "regenerate", "Regenerate"))
                                    (view::button(&visitor, &format!("/developer/tokens/{}/remove", t.id), "remove danger", "Delete"))
                                }
                            }
                        }
                        @if tokens.is_empty() { (view::empty_row(6, "No access token yet.")) }
                    }
                }
                @if !keys.is_empty() {
                    form #token-add.inline-form method="post" action="/developer/tokens" {
                        (csrf(&visitor))
                        div {
                            label for="token-key" { "API key" }
                            select #token-key name="key" { @for k in &keys { option value=(k.id) { (k.name) } } }
                        }
                        div {
                            label for="token-user" { "User" }
                            select #token-user name="user" { @for u in &users { option value=(u.name) { (u.name) } } }
                        }
                        div.buttons { button.primary type="submit" { "New access token" } }
                    }
                } @else {
                    p.muted { "Make an API key first; a token belongs to a key and a user." }
                }
            }
        },
    ))
}

/// Runs `f` on the state as the visitor (an admin), then goes back to the page with its
/// message; a refusal is said there too.
async fn act(
    posted: Posted,
    f: impl FnOnce(&Store, &Caller, &Posted) -> Result<Flash, AccessError> + Send + 'static,
) -> PageResult {
    let posted = posted.admin()?;
    let store = Arc::clone(&posted.visitor.state.control.store);
    let caller = posted.visitor.caller.clone();
    let (posted, done) = blocking(move || {
        let done = f(&store, &caller, &posted);
        Ok((posted, done))
    })
    .await?;
    match done {
        Ok(flash) => posted.visitor.tell(flash),
        Err(e) => match PageError::from_fault(&e) {
            PageError::Invalid(text) | PageError::NotFound(text) => {
                posted.visitor.tell(Flash::Failed(text))
            }
            other => return Err(other),
        },
    }
    see("/developer")
}

fn role(text: &str) -> Result<Role, AccessError> {
    Ok(text.parse()?)
}

pub async fn user_add(posted: Posted) -> PageResult {
    act(posted, |store, caller, p| {
        // The name as typed: a name with spaces at its ends is refused, not trimmed into another.
        let name = p.raw("name");
        let given = p.raw("password");
        let password = if given.is_empty() {
            access::generate_password()?
        } else {
            given.to_owned()
        };
        let user = access::user_add(store, caller, name, role(p.get("role"))?, &password)?;
        Ok(if given.is_empty() {
            Flash::Secret(
                format!(
                    "User {} ({}) was added with this password.",
                    user.name, user.role
                ),
                password,
            )
        } else {
            Flash::Done(format!("User {} ({}) was added.", user.name, user.role))
        })
    })
    .await
}

pub async fn user_change(Path(name): Path<String>, posted: Posted) -> PageResult {
    act(posted, move |store, caller, p| {
        let mut said = Vec::new();
        let wanted = role(p.get("role"))?;
        let current = access::user_role(store, &name)?
            .ok_or_else(|| AccessError::NotFound(format!("no user is named \"{name}\"")))?;
        if current != wanted {
            access::user_set_role(store, caller, &name, wanted)?;
            said.push(format!("is now {wanted}"));
        }
        let password = p.raw("password");
        if !password.is_empty() {
            let (user, identity) =
                access::user_set_password_keeping(store, caller, &name, password)?;
            // Every session of the user ends, but the one that set its own new password.
            let visitor = &p.visitor;
            if user.id == visitor.identity.user {
                visitor
                    .state
                    .kept
                    .sessions
                    .renew(&visitor.session, identity);
            }
            said.push("has a new password".to_owned());
        }
        Ok(Flash::Done(if said.is_empty() {
            format!("User {name}: nothing to change.")
        } else {
            format!("User {name} {}.", said.join(" and "))
        }))
    })
    .await
}

pub async fn user_remove(Path(name): Path<String>, posted: Posted) -> PageResult {
    act(posted, move |store, caller, _| {
        access::user_remove(store, caller, &name)?;
        Ok(Flash::Done(format!(
            "User {name} was removed, with its access tokens."
        )))
    })
    .await
}

pub async fn key_add(posted: Posted) -> PageResult {
    let account = posted.visitor.state.control.account_name.clone();
    act(posted, move |store, caller, p| {
        let made =
            access::apikey_add(store, caller, &account, p.get("name"), p.get("description"))?;
        Ok(Flash::Secret(
            format!("API key {} was made.", made.key.name),
            made.value,
        ))
    })
    .await
}

fn id_of(text: &str) -> Result<u32, AccessError> {
    text.parse().map_err(|_| AccessError::Invalid {
        field: "id",
        detail: format!("\"{text}\" is not an id"),
    })
}

pub async fn key_edit(Path(id): Path<String>, posted: Posted) -> PageResult {
    act(posted, move |store, caller, p| {
        let key = access::apikey_edit(
            store,
            caller,
            id_of(&id)?,
            Some(p.get("name")),
            Some(p.get("description")),
        )?;
        Ok(Flash::Done(format!("API key {} was saved.", key.name)))
    })
    .await
}

pub async fn key_remove(Path(id): Path<String>, posted: Posted) -> PageResult {
    act(posted, move |store, caller, _| {
        let key = access::apikey_remove(store, caller, &id)?;
        Ok(Flash::Done(format!(
            "API key {} was deleted, with its access tokens.",
            key.name
        )))
    })
    .await
}

pub async fn token_add(posted: Posted) -> PageResult {
    act(posted, |store, caller, p| {
        let made = access::token_add(store, caller, p.get("key"), p.get("user"))?;
        Ok(Flash::Secret(
            format!(
                "Access token {} for {} with key {} was made.",
                made.token.id, made.token.user, made.token.key_name
            ),
            made.value,
        ))
    })
    .await
}

pub async fn token_regenerate(Path(id): Path<String>, posted: Posted) -> PageResult {
    act(posted, move |store, caller, _| {
        let made = access::token_regenerate(store, caller, id_of(&id)?)?;
        Ok(Flash::Secret(
            format!(
                "Access token {} has a new value; the old one no longer works.",
                made.token.id
            ),
            made.value,
        ))
    })
    .await
}

pub async fn token_remove(Path(id): Path<String>, posted: Posted) -> PageResult {
    act(posted, move |store, caller, _| {
        let token = access::token_remove(store, caller, id_of(&id)?)?;
        Ok(Flash::Done(format!(
            "Access token {} was deleted.",
            token.id
        )))
    })
    .await
}
