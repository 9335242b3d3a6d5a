//! `GET /account` and `GET /users`: the box as one ExaVault account, its users as ExaVault
//! users (the shape the SDKs require, with sharehook's two roles mapped onto ExaVault's).

use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use axum::extract::State as AxumState;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{ApiResult, Query, Signed, State, answer};
use crate::access::{Caller, Role};
use crate::payload::rfc3339;

/// The one account a box is.
pub const ACCOUNT_ID: u64 = 1;

pub async fn account(AxumState(state): AxumState<State>, Signed(caller): Signed) -> ApiResult {
    let config = std::sync::Arc::clone(&state.config);
    let (limit, used) = tokio::task::spawn_blocking(move || disk_usage(&config))
        .await
        .unwrap_or((0, 0));
    let created = rfc3339(state.started_ms);
    let data = json!({
        "id": ACCOUNT_ID,
        "type": "account",
        "attributes": {
            "accountName": state.config.account_name,
            "status": 1,
            "userCount": 1,
            "quota": {
                "diskLimit": limit,
                "diskUsed": used,
                "noticeEnabled": false,
                "noticeThreshold": 90,
            },
            "secureOnly": false,
            "created": created,
            "modified": created,
        },
    });
    let user = user_json(&state.config.account_name, &caller, state.started_ms);
    answer(
        StatusCode::OK,
        json!({ "responseStatus": 200, "data": data, "included": [user] }),
    )
}

pub async fn users(
    AxumState(state): AxumState<State>,
    Signed(caller): Signed,
    query: Query,
) -> ApiResult {
    let offset = query.number("offset", 0, u64::MAX, 0)? as usize;
    let limit = query.number("limit", 1, 1000, 100)? as usize;
    let everyone = vec![user_json(
        &state.config.account_name,
        &caller,
        state.started_ms,
    )];
    let total = everyone.len();
    let data: Vec<Value> = everyone.into_iter().skip(offset).take(limit).collect();
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

/// A user as ExaVault's SDKs read one. An admin is ExaVault's `admin`, a viewer its `user`
/// with read permissions only.
fn user_json(account: &str, caller: &Caller, created_ms: i64) -> Value {
    let admin = caller.role == Role::Admin;
    let time = rfc3339(created_ms);
    json!({
        "id": 1,
        "type": "user",
        "attributes": {
            "status": 1,
            "locked": false,
            "created": time,
            "modified": time,
            "accountName": account,
            "username": caller.user,
            "nickname": caller.user,
            "email": "",
            "homePath": "/",
            "role": if admin { "admin" } else { "user" },
            "timeZone": "UTC",
            "onboarding": false,
            "firstLogin": false,
            "permissions": {
                "download": true,
                "upload": admin,
                "modify": admin,
                "delete": admin,
                "list": true,
                "changePassword": false,
                "share": false,
                "notification": false,
                "viewFormData": false,
                "deleteFormData": false,
            },
        },
    })
}

/// The size and use of the file systems holding the shares, in bytes (each counted once).
fn disk_usage(config: &crate::config::Config) -> (u64, u64) {
    let mut seen = HashSet::new();
    let (mut limit, mut used) = (0u64, 0u64);
    for share in &config.shares {
        let Ok(path) = CString::new(share.path.as_os_str().as_bytes()) else {
            continue;
        };
        // SAFETY: `path` is a valid C string and `st` is written by the call before it is read.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
            continue;
        }
        if !seen.insert(st.f_fsid) {
            continue;
        }
        let frsize = st.f_frsize as u64;
        limit += st.f_blocks as u64 * frsize;
        used += (st.f_blocks as u64).saturating_sub(st.f_bfree as u64) * frsize;
    }
    (limit, used)
}
