//! Who makes a management request, and the record of every change one makes.

use crate::store::Store;

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Admin,
    /// Reads only.
    Viewer,
}

/// The user a request acts as, and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    pub role: Role,
    /// The client's address (`local` for the command line).
    pub address: String,
}

impl Caller {
    /// The command line, run by whoever may read the state: root, an admin.
    pub fn local() -> Caller {
        Caller {
            user: "root".into(),
            role: Role::Admin,
            address: "local".into(),
        }
    }
}

/// Records that `caller` did `what` (one journal line, control characters escaped).
pub fn audit(_store: &Store, caller: &Caller, what: &str) {
    log::info!(
        "{} ({}) from {}: {}",
        crate::event::escape_controls(&caller.user),
        match caller.role {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        },
        crate::event::escape_controls(&caller.address),
        crate::event::escape_controls(what)
    );
}
