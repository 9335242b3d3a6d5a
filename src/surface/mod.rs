//! The surfaces people and programs use: the command line (with the manual, the access
//! commands and the demo), the management API, the web page and the web server that carries
//! both. Each reads a request, calls the service layer, and shapes its answer.

pub mod api;
pub mod cli;
pub mod page;
pub mod web;
