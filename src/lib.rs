//! sharehook: watches NAS shares and posts signed, ExaVault-compatible webhooks.
//!
//! See ARCHITECTURE.md for how the modules fit together.

pub mod access;
pub mod access_cli;
pub mod activity;
pub mod api;
pub mod apibench;
pub mod attempts;
pub mod bench;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod deliver;
pub mod demo;
pub mod engine;
pub mod event;
pub mod fault;
pub mod hookbench;
pub mod hooks;
pub mod ignore;
pub mod inbox;
pub mod logging;
pub mod manual;
pub mod metrics;
pub mod netpolicy;
pub mod owner;
pub mod page;
pub mod passwords;
pub mod payload;
pub mod receiver;
pub mod resources;
pub mod retry;
pub mod send;
pub mod service;
pub mod sign;
pub mod status;
pub mod store;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tidy;
pub mod tree;
pub mod treebench;
pub mod watch;
pub mod web;
