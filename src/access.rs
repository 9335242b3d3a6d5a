//! Who is asking for a change, and the record of every change made. (A stand-in: callers, their
//! roles and the journal line of a change; users, keys and tokens live beside it.)

use crate::store::Store;

/// What a caller may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Viewer,
}

/// Who makes a request, and from where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    pub role: Role,
    pub address: String,
}

impl Caller {
    /// The command line on the box itself: root, an admin.
    pub fn local() -> Caller {
        Caller {
            user: "root".into(),
            role: Role::Admin,
            address: "local".into(),
        }
    }
}

/// Records that `caller` did `what` (one journal line; control characters are escaped by the
/// logger).
pub fn audit(_store: &Store, caller: &Caller, what: &str) {
    log::info!("change by {} from {}: {what}", caller.user, caller.address);
}
