//! The service layer: the one set of functions the command line, the control socket, the API
//! and the page all call, so that the four never disagree. Each checks its caller's role and
//! writes the audit trail; none knows HTTP or the terminal.
//!
//! Layer 5: uses the engine, the deliverer and every layer below (see `lib.rs`).

pub mod access;
pub mod activity;
pub mod attempts;
pub mod hooks;
pub mod inbox;
pub mod metrics;
pub mod passwords;
pub mod recent;
pub mod resources;
pub mod status;
