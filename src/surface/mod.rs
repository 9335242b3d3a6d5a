//! The surfaces served over the network: the management API, the web page and the web server
//! that carries both. Each reads a request, calls the service layer, and shapes its answer.

pub mod api;
pub mod page;
pub mod web;
