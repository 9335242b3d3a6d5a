//! `GET /activity/webhooks`: the delivery log with ExaVault's filters, paging and sort, each
//! attempt shaped as ExaVault's `webhookActivity` entry (with sharehook's extensions beside).

use axum::extract::State as AxumState;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Query, Signed, State, answer, blocking, parse_time};
use crate::core::event::{Operation, escape_bytes};
use crate::core::payload::rfc3339;
use crate::service::access::{Caller, Role};
use crate::service::attempts::{self, LogQuery, PATTERN_MAX, Pattern, SortKey, StatusFilter};
use crate::store::LogEntry;

/// Entries a page has when `limit` is not given, and the most it may ask for.
pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

/// Events ExaVault could report; those a watcher never sees are accepted and match nothing.
const OTHER_EVENTS: [&str; 3] = [
    "resources.compress",
    "resources.extract",
    "shares.formSubmit",
];

pub async fn webhook_logs(
    AxumState(state): AxumState<State>,
    Signed(caller): Signed,
    query: Query,
) -> ApiResult {
    let mut q = log_query(&query)?;
    // A viewer's endpointUrl filter matches what it is shown, not the secrets it is not.
    q.hide_secrets = caller.role != Role::Admin;
    let several = state.control.config.shares.len() > 1;
    let store = std::sync::Arc::clone(&state.control.store);
    let page = blocking(move || Ok(attempts::query(&store, &q, several)?)).await?;
    let data: Vec<Value> = page
        .entries
        .iter()
        .map(|e| entry_json(&state, &caller, e, several))
        .collect();
    answer(
        StatusCode::OK,
        json!({
            "responseStatus": 200,
            "totalResults": page.total,
            "returnedResults": data.len(),
            "data": data,
        }),
    )
}

/// The `*` pattern given as `name`, at most `PATTERN_MAX` bytes.
pub fn pattern(query: &Query, name: &str) -> Result<Option<Pattern>, ApiError> {
    match query.get(name) {
        Some(text) if text.len() > PATTERN_MAX => Err(ApiError::invalid(
            name,
            format!(
                "a pattern has at most {PATTERN_MAX} bytes (this one has {})",
                text.len()
            ),
        )),
        text => Ok(text.map(Pattern::new)),
    }
}

/// Reads ExaVault's query parameters (and sharehook's `webhookId`) into a `LogQuery`.
pub fn log_query(query: &Query) -> Result<LogQuery, ApiError> {
    let mut q = LogQuery {
        offset: query.number("offset", 0, u32::MAX.into(), 0)? as usize,
        limit: query.number("limit", 0, MAX_LIMIT, DEFAULT_LIMIT)? as usize,
        ..LogQuery::default()
    };
    if let Some(t) = query.get("startDate") {
        q.since_ms = Some(parse_time("startDate", t)?);
    }
    if let Some(t) = query.get("endDate") {
        q.until_ms = Some(parse_time("endDate", t)?);
    }
    q.endpoint = pattern(query, "endpointUrl")?;
    q.resource = pattern(query, "resourcePath")?;
    q.username = query.get("username").map(str::to_owned);
    q.address = query.get("ipAddress").map(str::to_owned);
    if let Some(event) = query.get("event") {
        let known =
            Operation::ALL.iter().any(|op| op.v2_name() == event) || OTHER_EVENTS.contains(&event);
        if !known {
            return Err(ApiError::invalid(
                "event",
                format!("\"{event}\" is not an event name such as resources.upload"),
            ));
        }
        q.event = Some(event.to_owned());
    }
    if let Some(status) = query.get("statusCode") {
        q.status = Some(StatusFilter::parse(status).ok_or_else(|| {
            ApiError::invalid(
                "statusCode",
                format!("\"{status}\" is not an HTTP status, 2xx, 4xx, 5xx, transport or failed"),
            )
        })?);
    }
    if let Some(id) = query.get("webhookId") {
        q.webhook = Some(id.trim().parse().map_err(|_| {
            ApiError::invalid("webhookId", "must be a webhook's id (a whole number)")
        })?);
    }
    if let Some(sort) = query.get("sort") {
        q.sort = SortKey::parse_list(sort).map_err(|bad| {
            let names: Vec<&str> = SortKey::NAMES.iter().map(|(n, _)| *n).collect();
            ApiError::invalid(
                "sort",
                format!(
                    "\"{bad}\" is not a column to sort on ({}; - before one for descending)",
                    names.join(", ")
                ),
            )
        })?;
    }
    Ok(q)
}

/// One attempt as ExaVault's `webhookActivity` entry. `details` is the body that was sent,
/// with, for a v1 body, the fields ExaVault's `WebhookV1Details` reads that the flat body does
/// not carry (`attemptId`, `accountName`, `event`); sharehook adds the attempt number, the
/// kind of status, the error of a transport failure, the response size, the duration, the
/// share, the source path and the event id. A viewer sees the endpoint URL, and a transport
/// error quoting it, without their secrets.
pub fn entry_json(state: &State, caller: &Caller, e: &LogEntry, several: bool) -> Value {
    let admin = caller.role == Role::Admin;
    let url = if admin {
        e.url.clone()
    } else {
        crate::core::redact::hide_secrets(&e.url)
    };
    let error = if admin {
        e.message.clone()
    } else {
        crate::core::redact::hide_secrets_in_text(&e.message).into_owned()
    };
    let mut details = serde_json::from_slice::<Value>(&e.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&e.body).into_owned()));
    if e.format == "v1" {
        v1_details(&mut details, e);
    }
    let routing = state.control.hooks.routes().current();
    let webhook_path = routing
        .webhooks
        .iter()
        .find(|w| w.id == e.webhook)
        .map(|w| attempts::shown_path(several, &w.share, w.folder.as_bytes()))
        .unwrap_or_default();
    json!({
        "id": e.id,
        "type": "webhookActivity",
        "attributes": {
            "webhookId": e.webhook,
            "webhookFormat": e.format,
            "attemptId": e.attempt_id(),
            "accountId": super::account::ACCOUNT_ID.to_string(),
            "resend": e.resend,
            "endpointUrl": url,
            "event": e.event.op.v2_name(),
            "status": e.status,
            "ipAddress": e.event.address,
            "response": String::from_utf8_lossy(&e.response),
            "webhookPath": webhook_path,
            "resourcePath": attempts::shown_path(several, &e.event.share, e.event.path.as_bytes()),
            "username": e.event.username,
            "created": rfc3339(e.time_ms),
            "details": details,
            "attempt": e.attempt,
            "statusKind": if e.transport { "transport" } else { "http" },
            "error": error,
            "responseSize": e.response_size,
            "durationMs": e.duration_ms,
            "share": e.event.share,
            "sourcePath": e.event.source.as_ref().map(|s| escape_bytes(s.as_bytes())),
            "eventId": e.event.id,
            "attribution": e.event.attribution.as_str(),
        },
    })
}

/// Completes a v1 body as the log shows it with what ExaVault's log had beside the flat
/// fields: `attemptId` (`<eventId>-<attempt>`, as in the entry), `accountName` (the body's
/// `accountname`) and `event` (the v2 name, as in the entry's `event`). Only the log's copy:
/// what was POSTed stays byte for byte ExaVault's v1 body.
fn v1_details(details: &mut Value, e: &LogEntry) {
    let Some(fields) = details.as_object_mut() else {
        return;
    };
    let account = fields.get("accountname").cloned().unwrap_or(Value::Null);
    fields.insert("attemptId".into(), Value::String(e.attempt_id()));
    fields.insert("accountName".into(), account);
    fields.insert("event".into(), Value::String(e.event.op.v2_name().into()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::payload::V1;

    #[test]
    fn a_v1_entry_s_details_carry_what_exavault_s_v1_details_read_and_the_body_as_sent() {
        let mut entry = crate::store::tests::log_entry(3, 42, 2, 0);
        entry.body = V1::of(&entry.event, "nas01", "smb", 2).to_bytes();
        let sent = entry.body.clone();
        let dir = tempfile::tempdir().unwrap();
        let state = std::sync::Arc::new(super::super::ApiState {
            control: crate::service::activity::test_control(dir.path(), ""),
            limiter: std::sync::Arc::new(super::super::Limiter::default()),
        });
        let json = entry_json(
            &state,
            &crate::service::access::Caller::local(),
            &entry,
            false,
        );
        let details = &json["attributes"]["details"];
        assert_eq!(details["attemptId"], "42-2", "{details}");
        assert_eq!(details["attemptId"], json["attributes"]["attemptId"]);
        assert_eq!(details["accountName"], "nas01");
        assert_eq!(details["event"], "resources.upload");
        assert_eq!(details["attempt"], 2);
        // The flat body's own fields are all there, as sent.
        let body: Value = serde_json::from_slice(&sent).unwrap();
        for (name, value) in body.as_object().unwrap() {
            assert_eq!(&details[name], value, "{name}");
        }
        // Only the log's copy grew: the entry's body is still what was POSTed.
        assert_eq!(entry.body, sent);

        // A v2 body is shown as it was sent.
        entry.format = "v2".into();
        entry.body = br#"{"attemptId":"42-2","event":"resources.upload"}"#.to_vec();
        let json = entry_json(
            &state,
            &crate::service::access::Caller::local(),
            &entry,
            false,
        );
        assert_eq!(
            json["attributes"]["details"],
            serde_json::json!({"attemptId": "42-2", "event": "resources.upload"})
        );
    }
}
