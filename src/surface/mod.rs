//! The surfaces the daemon serves: the management API, the web page and the web server that
//! carries both, and the local control socket. Each reads a request, calls the service layer,
//! and shapes its answer.
//!
//! Layer 7 (see `lib.rs`): uses the daemon's runtime, the service layer and the layers below;
//! never the command line.

pub mod api;
pub mod control;
pub mod page;
pub mod web;
