//! What kind of failure a management request met, in the words every front end shares: the
//! API turns a kind into ExaVault's error code and HTTP status, the CLI into its message and
//! exit status. Each service module's error says its kind; no front end guesses from text.

/// The kind of a failed management request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The input is wrong; `field` names the parameter at fault (as the caller spelled it).
    Invalid { field: String },
    /// What the request names does not exist.
    NotFound,
    /// The caller may not do this (a viewer changing something, a webhook defined in the
    /// configuration file).
    Forbidden,
    /// The request clashes with what exists (a name already taken).
    Conflict,
    /// Too much of this is being done at once (password checks, zips); nothing was done, and
    /// the same request may succeed in a moment.
    Busy,
    /// sharehook could not do it (the state could not be written); logged where it happened.
    Internal,
}

impl Kind {
    pub fn invalid(field: impl Into<String>) -> Kind {
        Kind::Invalid {
            field: field.into(),
        }
    }
}

/// An error that knows its kind.
pub trait Fault: std::error::Error {
    fn kind(&self) -> Kind;
}
