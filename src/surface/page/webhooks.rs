//! `/webhooks`: the table of webhooks like ExaVault's Developer page, with New, Edit, Delete,
//! Regenerate token, Enable and Send test. The form uses the API's field names; webhooks from
//! the configuration file are shown as such and changed only there.

use std::sync::Arc;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use maud::{Markup, html};

use super::view::Flash;
use super::view::{self, csrf, time};
use super::{PageError, PageResult, Posted, Visitor, blocking, render, see};
use crate::core::redact::redact_url;
use crate::service::hooks::{HookError, Origin, ResourceChanges, Spec, TriggerChanges, View};

/// The most folders the form offers for `resource`.
pub const FOLDERS_OFFERED: usize = 1000;

/// The trigger checkboxes: form name, label.
const TRIGGERS: [(&str, &str); 7] = [
    ("upload", "Upload"),
    ("delete", "Delete"),
    ("move", "Move"),
    ("rename", "Rename"),
    ("createFolder", "Create folder"),
    ("download", "Download"),
    ("copy", "Copy"),
];

fn fault(e: HookError) -> PageError {
    PageError::from_fault(&e)
}

fn id_of(text: &str) -> Result<u32, PageError> {
    text.parse()
        .map_err(|_| PageError::NotFound(format!("\"{text}\" is not a webhook id")))
}

/// The inbox's URL as a webhook reaches it: the server's plain loopback address when it has
/// one (a delivery to the box itself needs no certificate), else its first address.
pub fn inbox_url(visitor: &Visitor) -> Option<String> {
    let listen = &visitor.state.control.web.as_ref()?.listen;
    let local = |u: &&String| u.starts_with("http://127.") || u.starts_with("http://[::1]");
    let base = listen.iter().find(local).or_else(|| listen.first())?;
    let base = base
        .replace("://0.0.0.0:", "://127.0.0.1:")
        .replace("://[::]:", "://[::1]:");
    Some(format!("{base}{}", crate::service::inbox::PATH))
}

pub async fn page(visitor: Visitor) -> PageResult {
    let hooks = Arc::clone(&visitor.state.control.hooks);
    let views = blocking(move || hooks.list().map_err(fault)).await?;
    let admin = visitor.admin();
    render(view::frame(
        &visitor,
        "/webhooks",
        "Webhooks",
        None,
        html! {
            div.titlebar {
                h1 { "Webhooks" }
                @if admin { a #new-webhook.button.primary href="/webhooks/new" { "New webhook" } }
            }
            p.muted {
                "Each webhook is sent every change in its folder, one request at a time and in order. "
                "Deliveries are signed with the webhook's verification token ("
                code { "X-Exavault-Signature" } ")."
            }
            table #webhooks.cards {
                thead { tr {
                    th { "#" } th { "Endpoint URL" } th { "Folder" } th { "Format" } th { "Events" }
                    th { "State" } th.num { "Queued" } th.num { "Failed" }
                    @if admin { th { "Verification token" } th { "Actions" } }
                } }
                tbody {
                    @for v in &views { (row(&visitor, v)) }
                    @if views.is_empty() {
                        (view::empty_row(10, "No webhook yet."))
                    }
                }
            }
        },
    ))
}

fn triggers_text(v: &View) -> String {
    let t = &v.triggers.resources;
    let on: Vec<&str> = [
        (t.upload, "Upload"),
        (t.delete, "Delete"),
        (t.moved, "Move"),
        (t.rename, "Rename"),
        (t.create_folder, "Create folder"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| *n)
    .collect();
    if on.is_empty() {
        "none".to_owned()
    } else {
        on.join(", ")
    }
}

fn row(visitor: &Visitor, v: &View) -> Markup {
    let admin = visitor.admin();
    let from_file = v.origin == Origin::File;
    let base = format!("/webhooks/{}", v.id);
    html! {
        tr.webhook data-webhook-id=(v.id) {
            td data-label="#" { (v.id) }
            td data-label="Endpoint URL" {
                code.url { (redact_url(&v.endpoint_url)) }
                @if from_file {
                    br; span.badge.neutral title=(v.file.as_deref().unwrap_or("")) { "from the configuration file" }
                }
            }
            td data-label="Folder" { code { (v.resource) } }
            td data-label="Format" { (v.response_version) }
            td data-label="Events" { (triggers_text(v)) }
            td data-label="State" {
                @match v.health {
                    "disabled" => {
                        span.badge.bad { "disabled" }
                        @if let Some(r) = &v.disabled_reason { " " (crate::core::event::escape_controls(r)) }
                    }
                    "failing" => {
                        span.badge.warn { "retrying" }
                        @if let Some(t) = v.failing_since_ms { " since " (time(t)) }
                    }
                    _ => { span.badge.good { "delivering" } }
                }
            }
            td.num data-label="Queued" { (v.queued) }
            td.num data-label="Failed" { (v.failed_events) }
            @if admin {
                td data-label="Verification token" {
                    @if let Some(token) = &v.verification_token {
                        div.copyline {
                            code.token { (token) }
                            button.copy type="button" data-copy=(token) aria-label=(format!("Copy the token of webhook {}", v.id)) { "Copy" }
                        }
                    }
                }
                td.actions data-label="Actions" {
                    @if !from_file {
                        a.edit.button href=(format!("{base}/edit")) { "Edit" }
                        (view::button(visitor, &format!("{base}/regenerate-token"), "regenerate", "Regenerate token"))
                    }
                    @if v.failed {
                        (view::button(visitor, &format!("{base}/enable"), "enable", "Enable"))
                    }
                    (view::button(visitor, &format!("{base}/test"), "test", "Send test"))
                    @if !from_file {
                        (view::button(visitor, &format!("{base}/delete"), "delete danger", "Delete"))
                    }
                }
            }
        }
    }
}

/// What the form shows: a webhook's values, or a new one's defaults.
struct FormValues {
    endpoint_url: String,
    resource: String,
    response_version: String,
    triggers: Vec<&'static str>,
}

impl FormValues {
    fn new_one() -> FormValues {
        FormValues {
            endpoint_url: String::new(),
            resource: "/".into(),
            response_version: "v1".into(),
            // A new webhook hears the changes; downloads are asked for.
            triggers: TRIGGERS
                .iter()
                .map(|(n, _)| *n)
                .filter(|n| !matches!(*n, "download" | "copy"))
                .collect(),
        }
    }

    fn of(v: &View) -> FormValues {
        let t = &v.triggers.resources;
        let on = [
            t.upload,
            t.delete,
            t.moved,
            t.rename,
            t.create_folder,
            t.download,
            t.copy,
        ];
        FormValues {
            endpoint_url: v.endpoint_url.clone(),
            resource: v.resource.clone(),
            response_version: v.response_version.to_owned(),
            triggers: TRIGGERS
                .iter()
                .zip(on)
                .filter(|(_, on)| *on)
                .map(|((n, _), _)| *n)
                .collect(),
        }
    }

    fn posted(p: &Posted) -> FormValues {
        FormValues {
            endpoint_url: p.get("endpointUrl").to_owned(),
            resource: p.get("resource").to_owned(),
            response_version: p.get("responseVersion").to_owned(),
            triggers: TRIGGERS
                .iter()
                .map(|(n, _)| *n)
                .filter(|n| p.ticked(n))
                .collect(),
        }
    }

    fn spec(&self) -> Spec {
        let on = |name: &str| Some(self.triggers.contains(&name));
        Spec {
            endpoint_url: Some(self.endpoint_url.clone()),
            resource: Some(self.resource.clone()),
            response_version: Some(self.response_version.clone()),
            triggers: Some(TriggerChanges {
                resources: ResourceChanges {
                    upload: on("upload"),
                    delete: on("delete"),
                    moved: on("move"),
                    rename: on("rename"),
                    create_folder: on("createFolder"),
                    download: on("download"),
                    copy: on("copy"),
                    ..ResourceChanges::default()
                },
                ..TriggerChanges::default()
            }),
        }
    }
}

/// The form for a new webhook (`id` none) or webhook `id`; `error` says what was wrong with
/// what was sent.
async fn form(
    visitor: &Visitor,
    id: Option<u32>,
    values: &FormValues,
    error: Option<String>,
) -> Result<Markup, PageError> {
    let resources = Arc::clone(&visitor.state.control.resources);
    let mut folders = blocking(move || Ok(resources.folders(FOLDERS_OFFERED)?)).await?;
    if !folders.contains(&values.resource) && !values.resource.is_empty() {
        folders.insert(0, values.resource.clone());
    }
    let inbox = inbox_url(visitor);
    let (title, action) = match id {
        None => ("New webhook".to_owned(), "/webhooks".to_owned()),
        Some(id) => (format!("Edit webhook {id}"), format!("/webhooks/{id}")),
    };
    Ok(view::frame(
        visitor,
        "/webhooks",
        &title,
        None,
        html! {
            h1 { (title) }
            @if let Some(e) = &error { p.flash.error role="alert" { (e) } }
            form #webhook-form.stack method="post" action=(action) {
                (csrf(visitor))
                label for="endpointUrl" { "Endpoint URL" }
                // Text, not `url`: a browser refuses a NATS URL with several servers
                // (`nats://n1:4222,n2:4222/...`); the server checks every URL.
                input #endpointUrl name="endpointUrl" type="text" inputmode="url" required
                    placeholder="https://receiver.example/hook" value=(values.endpoint_url)
                    autocomplete="off" spellcheck="false";
                p.hint { "Or a broker: nats://host:4222/files.{account}.{share}.{event}, mqtt://host/topic" }
                @if let Some(url) = &inbox {
                    p.hint {
                        "No receiver yet? Use this box's own inbox: "
                        code #inbox-url { (url) } " "
                        button #use-inbox.link type="button" data-fill="endpointUrl" data-value=(url) { "Use the inbox" }
                    }
                }
                label for="resource" { "Folder (resource)" }
                select #resource name="resource" {
                    @for f in &folders {
                        option value=(f) selected[*f == values.resource] { (f) }
                    }
                }
                @if folders.len() >= FOLDERS_OFFERED {
                    p.hint { "The first " (FOLDERS_OFFERED) " folders are offered; the API takes any folder." }
                }
                label for="responseVersion" { "Format (responseVersion)" }
                select #responseVersion name="responseVersion" {
                    option value="v1" selected[values.response_version == "v1"] { "v1 — ExaVault's body, X-Exavault-Signature" }
                    option value="v2" selected[values.response_version == "v2"] { "v2 — richer body, Standard Webhooks headers" }
                }
                fieldset {
                    legend { "Events" }
                    @for (name, label) in TRIGGERS {
                        label.check {
                            input type="checkbox" name=(name) value="true" checked[values.triggers.contains(&name)];
                            " " (label)
                        }
                    }
                }
                div.buttons {
                    button.primary type="submit" { @if id.is_some() { "Save" } @else { "Create webhook" } }
                    a.button href="/webhooks" { "Cancel" }
                }
            }
        },
    ))
}

pub async fn new_form(visitor: Visitor) -> PageResult {
    visitor.must_be_admin()?;
    render(form(&visitor, None, &FormValues::new_one(), None).await?)
}

pub async fn edit_form(visitor: Visitor, Path(id): Path<String>) -> PageResult {
    visitor.must_be_admin()?;
    let id = id_of(&id)?;
    let hooks = Arc::clone(&visitor.state.control.hooks);
    let v = blocking(move || hooks.get(id).map_err(fault)).await?;
    if v.origin == Origin::File {
        return Err(PageError::Invalid(format!(
            "Webhook {id} is defined in the configuration file {}: change it there.",
            v.file.as_deref().unwrap_or("")
        )));
    }
    render(form(&visitor, Some(id), &FormValues::of(&v), None).await?)
}

/// Does a create (`id` none) or an update; a refused value shows the form again with it.
async fn save(posted: Posted, id: Option<u32>) -> PageResult {
    let posted = posted.admin()?;
    let values = FormValues::posted(&posted);
    let visitor = posted.visitor;
    let hooks = Arc::clone(&visitor.state.control.hooks);
    let caller = visitor.caller.clone();
    let spec = values.spec();
    let done = blocking(move || {
        Ok(match id {
            None => hooks.create(&caller, spec),
            Some(id) => hooks.update(&caller, id, spec),
        })
    })
    .await?;
    match done {
        Ok(v) => {
            visitor.tell(Flash::Done(match id {
                None => format!("Webhook {} was created.", v.id),
                Some(_) => format!("Webhook {} was saved.", v.id),
            }));
            see("/webhooks")
        }
        Err(e @ HookError::Invalid { .. }) => {
            let mut response = form(&visitor, id, &values, Some(e.to_string()))
                .await?
                .into_response();
            *response.status_mut() = StatusCode::BAD_REQUEST;
            Ok(response)
        }
        Err(e) => Err(fault(e)),
    }
}

pub async fn create(posted: Posted) -> PageResult {
    save(posted, None).await
}

pub async fn update(Path(id): Path<String>, posted: Posted) -> PageResult {
    let id = id_of(&id)?;
    save(posted, Some(id)).await
}

pub async fn delete(Path(id): Path<String>, posted: Posted) -> PageResult {
    let visitor = posted.admin()?.visitor;
    let id = id_of(&id)?;
    let hooks = Arc::clone(&visitor.state.control.hooks);
    let caller = visitor.caller.clone();
    blocking(move || hooks.delete(&caller, id).map_err(fault)).await?;
    visitor.tell(Flash::Done(format!(
        "Webhook {id} was deleted. Its log stays in Activity."
    )));
    see("/webhooks")
}

pub async fn regenerate(Path(id): Path<String>, posted: Posted) -> PageResult {
    let visitor = posted.admin()?.visitor;
    let id = id_of(&id)?;
    let hooks = Arc::clone(&visitor.state.control.hooks);
    let caller = visitor.caller.clone();
    blocking(move || hooks.regenerate_token(&caller, id).map_err(fault)).await?;
    let grace = visitor.state.control.config.delivery.rotation_grace;
    visitor.tell(Flash::Done(format!(
        "Webhook {id} has a new token; its next delivery is signed with it. The old token is \
         sent beside it (X-Exavault-Signature-Previous) for {} more minutes.",
        grace.as_secs() / 60
    )));
    see("/webhooks")
}

pub async fn enable(Path(id): Path<String>, posted: Posted) -> PageResult {
    let visitor = posted.admin()?.visitor;
    let id = id_of(&id)?;
    let hooks = Arc::clone(&visitor.state.control.hooks);
    let caller = visitor.caller.clone();
    let was = blocking(move || hooks.enable(&caller, id).map_err(fault)).await?;
    visitor.tell(Flash::Done(if was {
        format!("Webhook {id} is enabled again; its queue is being sent.")
    } else {
        format!("Webhook {id} was not disabled.")
    }));
    see("/webhooks")
}

pub async fn test(Path(id): Path<String>, posted: Posted) -> PageResult {
    let visitor = posted.admin()?.visitor;
    let id = id_of(&id)?;
    let logged = crate::service::activity::test_as(&visitor.state.control, &visitor.caller, id)
        .await
        .map_err(super::worker_error)?;
    let flash = if let Some(answer) = logged.broker_answer() {
        Flash::Done(format!(
            "Test sent to webhook {id}: the broker acknowledged it ({}).",
            crate::core::event::escape_controls(answer)
        ))
    } else if logged.success() {
        Flash::Done(format!(
            "Test sent to webhook {id}: the receiver answered {}.",
            logged.status
        ))
    } else if logged.transport {
        Flash::Failed(format!(
            "Test sent to webhook {id}: no answer ({}).",
            crate::core::event::escape_controls(&logged.message)
        ))
    } else {
        Flash::Failed(format!(
            "Test sent to webhook {id}: the receiver answered {}.",
            logged.status
        ))
    };
    visitor.tell(flash);
    see("/webhooks")
}
