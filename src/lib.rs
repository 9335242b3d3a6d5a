//! sharehook: watches NAS shares and posts signed, ExaVault-compatible webhooks.
//!
//! The folders are the layers, lowest first; a module uses only its own layer and those
//! below it (the `tidy` test holds this). See ARCHITECTURE.md for how they fit together.

pub mod core;

pub mod config;
pub mod evidence;
pub mod store;
pub mod tree;
pub mod watch;

pub mod deliver;

pub mod engine;

pub mod service;

pub mod daemon;

pub mod surface;

pub mod bench;

pub mod cli;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tidy;

/// The version `--version`, `status` and the API report: the package's and the commit it was
/// built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SHAREHOOK_COMMIT"),
    ")"
);
