//! sharehook: watches NAS shares and posts signed, ExaVault-compatible webhooks.
//!
//! See ARCHITECTURE.md for how the modules fit together.

pub mod classify;
pub mod config;
pub mod event;
pub mod payload;
pub mod retry;
pub mod sign;
pub mod store;
