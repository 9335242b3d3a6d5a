//! Who may use the management API: users, API keys and access tokens.

use crate::store::Store;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Viewer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    pub role: Role,
    pub address: String,
}

impl Caller {
    pub fn local() -> Caller {
        Caller {
            user: "root".into(),
            role: Role::Admin,
            address: "local".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid credentials")]
    Invalid,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

pub fn authenticate(_store: &Store, _api_key: &str, _token: &str) -> Result<Caller, AuthError> {
    Err(AuthError::Invalid)
}

pub fn audit(_store: &Store, caller: &Caller, what: &str) {
    log::info!("{} from {}: {what}", caller.user, caller.address);
}
