//! The core: what every layer speaks, as pure data and rules with no I/O. Events and paths,
//! the ignore list, the body bytes, signatures, the retry schedule, the address policy, the
//! kinds of failure, and the running daemon's figures.
//!
//! Layer 1: uses nothing else of sharehook (see `lib.rs`).

pub mod endpoint;
pub mod event;
pub mod fault;
pub mod ignore;
pub mod netpolicy;
pub mod outcome;
pub mod payload;
pub mod redact;
pub mod retry;
pub mod role;
pub mod sign;
pub mod stats;
