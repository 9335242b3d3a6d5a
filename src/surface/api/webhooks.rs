//! `/webhooks`: ExaVault's webhook routes (list, get, create, update, delete,
//! `regenerate-token`, `resend/{activityId}`) and sharehook's own (`{id}/recover`,
//! `{id}/enable`, `{id}/test`). A webhook is ExaVault's shape, `data` always an array (the
//! SDKs read a single webhook from `data[0]`); the verification token is shown to admins only.

use std::sync::Arc;

use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{
    Admin, ApiError, ApiResult, JsonBody, Query, RawBody, Signed, State, answer, blocking,
    parse_time,
};
use crate::core::payload::rfc3339;
use crate::service::access::{Caller, Role};
use crate::service::activity::ActivityError;
use crate::service::hooks::{HookError, Spec, View};

fn fault(e: HookError) -> ApiError {
    ApiError::from_fault(&e)
}

/// A path parameter that must be a webhook or activity id.
fn id_of(field: &str, text: &str) -> Result<u32, ApiError> {
    text.trim()
        .parse()
        .map_err(|_| ApiError::invalid(field, format!("\"{text}\" is not an id (a whole number)")))
}

/// A webhook as ExaVault's SDKs read one, with sharehook's extensions among its attributes.
pub fn webhook_json(view: &View) -> Value {
    let folder_id = super::resource_number(&view.share, view.resource.as_bytes());
    json!({
        "id": view.id,
        "type": "webhook",
        "attributes": {
            "endpointUrl": view.endpoint_url,
            "failed": view.failed,
            "verificationToken": view.verification_token.as_deref().unwrap_or(""),
            "responseVersion": view.response_version,
            "triggers": view.triggers,
            "created": rfc3339(view.created_ms),
            "modified": rfc3339(view.modified_ms),
            "resource": view.resource,
            "share": view.share,
            "origin": view.origin,
            "file": view.file,
            "createdBy": view.created_by,
            "health": view.health,
            "failingSince": view.failing_since_ms.map(rfc3339),
            "disabledReason": view.disabled_reason,
            "queued": view.queued,
            "failedEvents": view.failed_events,
        },
        "relationships": {
            "ownerAccount": { "data": { "id": super::account::ACCOUNT_ID, "type": "account" } },
            "resource": { "data": { "id": folder_id, "type": "resource" } },
        },
    })
}

/// What `caller` may see of `view`: tokens and the URL's secrets are for admins.
fn shown(caller: &Caller, view: View) -> Value {
    if caller.role == Role::Admin {
        webhook_json(&view)
    } else {
        webhook_json(&view.for_viewer())
    }
}

fn one(status: StatusCode, caller: &Caller, view: View) -> ApiResult {
    answer(
        status,
        json!({
            "responseStatus": status.as_u16(),
            "data": [shown(caller, view)],
            "included": [],
        }),
    )
}

pub async fn list(
    AxumState(state): AxumState<State>,
    Signed(caller): Signed,
    query: Query,
) -> ApiResult {
    let offset = query.number("offset", 0, u32::MAX.into(), 0)? as usize;
    let limit = query.number("limit", 0, 1000, 100)? as usize;
    let hooks = Arc::clone(&state.control.hooks);
    let views = blocking(move || hooks.list().map_err(fault)).await?;
    let total = views.len();
    let data: Vec<Value> = views
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|v| shown(&caller, v))
        .collect();
    answer(
        StatusCode::OK,
        json!({
            "responseStatus": 200,
            "totalResults": total,
            "returnedResults": data.len(),
            "data": data,
            "included": [],
        }),
    )
}

pub async fn get(
    AxumState(state): AxumState<State>,
    Signed(caller): Signed,
    Path(id): Path<String>,
) -> ApiResult {
    let id = id_of("id", &id)?;
    let hooks = Arc::clone(&state.control.hooks);
    let view = blocking(move || hooks.get(id).map_err(fault)).await?;
    one(StatusCode::OK, &caller, view)
}

/// The settings of a create or an update: ExaVault's keys, a wrong type named by its field.
fn spec(body: &[u8]) -> Result<Spec, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    Spec::from_json(body).map_err(fault)
}

pub async fn create(
    AxumState(state): AxumState<State>,
    Admin(caller): Admin,
    RawBody(body): RawBody,
) -> ApiResult {
    let spec = spec(&body)?;
    let hooks = Arc::clone(&state.control.hooks);
    let who = caller.clone();
    let view = blocking(move || hooks.create(&who, spec).map_err(fault)).await?;
    one(StatusCode::CREATED, &caller, view)
}

pub async fn update(
    AxumState(state): AxumState<State>,
    Admin(caller): Admin,
    Path(id): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult {
    let id = id_of("id", &id)?;
    let spec = spec(&body)?;
    let hooks = Arc::clone(&state.control.hooks);
    let who = caller.clone();
    let view = blocking(move || hooks.update(&who, id, spec).map_err(fault)).await?;
    one(StatusCode::OK, &caller, view)
}

pub async fn delete(
    AxumState(state): AxumState<State>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> ApiResult {
    let id = id_of("id", &id)?;
    let hooks = Arc::clone(&state.control.hooks);
    blocking(move || hooks.delete(&caller, id).map_err(fault)).await?;
    answer(StatusCode::OK, json!({ "responseStatus": 200, "data": [] }))
}

pub async fn regenerate_token(
    AxumState(state): AxumState<State>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> ApiResult {
    let id = id_of("id", &id)?;
    let hooks = Arc::clone(&state.control.hooks);
    let who = caller.clone();
    let view = blocking(move || hooks.regenerate_token(&who, id).map_err(fault)).await?;
    one(StatusCode::OK, &caller, view)
}

/// The error of a request a webhook's worker answers, by the status the control layer gave.
fn worker_error(e: ActivityError) -> ApiError {
    match e {
        ActivityError::NotFound(detail) => ApiError::not_found(detail),
        other => ApiError::internal(other.to_string()),
    }
}

/// Sends the event of log entry `activityId` to its webhook again, now, as a resend.
pub async fn resend(
    AxumState(state): AxumState<State>,
    Admin(caller): Admin,
    Path(activity): Path<String>,
) -> ApiResult {
    let entry_id: u64 = activity.trim().parse().map_err(|_| {
        ApiError::invalid(
            "activityId",
            format!("\"{activity}\" is not an activity id (a whole number)"),
        )
    })?;
    let logged = crate::service::activity::resend_entry(&state.control, &caller, entry_id)
        .await
        .map_err(worker_error)?;
    let several = state.control.config.shares.len() > 1;
    answer(
        StatusCode::OK,
        json!({
            "responseStatus": 200,
            "data": [],
            "resent": super::activity::entry_json(&state, &caller, &logged, several),
        }),
    )
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RecoverBody {
    /// Failed events set aside at or after this time (ISO 8601); all of them when absent.
    since: Option<String>,
}

/// Puts the webhook's failed events back into its queue (since a time), to be sent in order.
pub async fn recover(
    AxumState(state): AxumState<State>,
    Admin(caller): Admin,
    Path(id): Path<String>,
    query: Query,
    JsonBody(body): JsonBody<RecoverBody>,
) -> ApiResult {
    let id = id_of("id", &id)?;
    let since_text = body.since.or_else(|| query.get("since").map(str::to_owned));
    let since = since_text
        .as_deref()
        .map(|t| parse_time("since", t))
        .transpose()?;
    let control = Arc::clone(&state.control);
    let requeued = blocking(move || {
        crate::service::activity::recover_as(&control, &caller, Some(id), since)
            .map_err(worker_error)
    })
    .await?;
    answer(
        StatusCode::OK,
        json!({
            "responseStatus": 200,
            "data": { "webhookId": id, "requeued": requeued },
        }),
    )
}

/// Starts delivering again to a webhook that was disabled.
pub async fn enable(
    AxumState(state): AxumState<State>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> ApiResult {
    let id = id_of("id", &id)?;
    let hooks = Arc::clone(&state.control.hooks);
    let who = caller.clone();
    let (was_disabled, view) = blocking(move || {
        let was = hooks.enable(&who, id).map_err(fault)?;
        Ok((was, hooks.get(id).map_err(fault)?))
    })
    .await?;
    answer(
        StatusCode::OK,
        json!({
            "responseStatus": 200,
            "data": [shown(&caller, view)],
            "included": [],
            "wasDisabled": was_disabled,
        }),
    )
}

/// Sends the webhook a test delivery now (an Upload of `sharehook-test.txt` in its folder, by
/// the caller); the answer carries the attempt as the log has it.
pub async fn test(
    AxumState(state): AxumState<State>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> ApiResult {
    let id = id_of("id", &id)?;
    let logged = crate::service::activity::test_as(&state.control, &caller, id)
        .await
        .map_err(worker_error)?;
    let several = state.control.config.shares.len() > 1;
    answer(
        StatusCode::OK,
        json!({
            "responseStatus": 200,
            "data": [super::activity::entry_json(&state, &caller, &logged, several)],
        }),
    )
}
