//! `GET /account` and `GET /users`: the box as one ExaVault account, its users as ExaVault
//! users (the shape the SDKs require, with sharehook's two roles mapped onto ExaVault's).

use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use axum::extract::State as AxumState;
use axum::http::StatusCode;
use serde_json::{Value, json};

use std::sync::Arc;

use super::{ApiError, ApiResult, Query, Signed, State, answer, blocking};
use crate::core::payload::rfc3339;
use crate::service::access::{self, Role, User};

/// The one account a box is.
pub const ACCOUNT_ID: u64 = 1;

pub async fn account(AxumState(state): AxumState<State>, Signed(caller): Signed) -> ApiResult {
    let config = Arc::clone(&state.control.config);
    let store = Arc::clone(&state.control.store);
    let who = caller.clone();
    let ((limit, used), users) = blocking(move || {
        let users = access::users_visible_with_last_access(&store, &who)
            .map_err(|e| ApiError::from_fault(&e))?;
        Ok((disk_usage(&config), users))
    })
    .await?;
    let created = rfc3339(state.control.started_ms);
    let data = json!({
        "id": ACCOUNT_ID,
        "type": "account",
        "attributes": {
            "accountName": state.control.config.account_name,
            "status": 1,
            "userCount": users.len(),
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
    let me: Vec<Value> = users
        .iter()
        .filter(|(u, _)| u.name == caller.user)
        .map(|(u, last)| user_json(&state.control.config.account_name, u, *last))
        .collect();
    answer(
        StatusCode::OK,
        json!({ "responseStatus": 200, "data": data, "included": me }),
    )
}

pub async fn users(
    AxumState(state): AxumState<State>,
    Signed(caller): Signed,
    query: Query,
) -> ApiResult {
    let offset = query.number("offset", 0, u32::MAX.into(), 0)? as usize;
    let limit = query.number("limit", 0, 1000, 100)? as usize;
    let username = query.get("username").map(str::to_owned);
    let role = query.get("role").map(str::to_owned);
    let store = Arc::clone(&state.control.store);
    let everyone = blocking(move || {
        access::users_visible_with_last_access(&store, &caller)
            .map_err(|e| ApiError::from_fault(&e))
    })
    .await?;
    let matching: Vec<&(User, Option<i64>)> = everyone
        .iter()
        .filter(|(u, _)| username.as_deref().is_none_or(|n| u.name == n))
        .filter(|(u, _)| role.as_deref().is_none_or(|r| exavault_role(u.role) == r))
        .collect();
    let data: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(u, last)| user_json(&state.control.config.account_name, u, *last))
        .collect();
    answer(
        StatusCode::OK,
        json!({
            "responseStatus": 200,
            "totalResults": matching.len(),
            "returnedResults": data.len(),
            "data": data,
            "included": [],
        }),
    )
}

/// ExaVault's name for a role: an admin is `admin`, a viewer a plain `user`.
fn exavault_role(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Viewer => "user",
    }
}

/// ExaVault's `accessTimestamp`: the last sign-in, which for sharehook is the last use of one
/// of the user's access tokens (RFC 3339, UTC), or ExaVault's own "never",
/// `0000-00-00 00:00:00` (its sample scripts test the first four characters for it).
fn access_timestamp(last_ms: Option<i64>) -> String {
    last_ms.map_or_else(|| NEVER.to_owned(), rfc3339)
}

const NEVER: &str = "0000-00-00 00:00:00";

/// A user as ExaVault's SDKs read one; a viewer has ExaVault's read permissions only.
fn user_json(account: &str, user: &User, last_access_ms: Option<i64>) -> Value {
    let admin = user.role == Role::Admin;
    json!({
        "id": user.id,
        "type": "user",
        "attributes": {
            "status": 1,
            "locked": false,
            "created": user.created,
            "modified": user.modified,
            "accessTimestamp": access_timestamp(last_access_ms),
            "accountName": account,
            "username": user.name,
            "nickname": user.name,
            "email": "",
            "homePath": "/",
            "role": exavault_role(user.role),
            "sharehookRole": user.role.as_str(),
            "timeZone": "UTC",
            "onboarding": false,
            "firstLogin": false,
            "permissions": {
                "download": true,
                "upload": admin,
                "modify": admin,
                "delete": admin,
                "list": true,
                "changePassword": true,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_timestamps_are_rfc3339_or_exavault_s_never() {
        assert_eq!(access_timestamp(None), "0000-00-00 00:00:00");
        assert_eq!(
            access_timestamp(Some(1_795_338_303_042)),
            "2026-11-22T09:05:03.042Z"
        );
    }
}
