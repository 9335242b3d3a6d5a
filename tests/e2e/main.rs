//! Black-box tests: the real sharehook binary against a real HTTP receiver, real files, real
//! signals and the real systemd tools. One test binary; helpers in `support`.

mod access;
mod api;
mod attribution;
mod brokers;
mod cli;
mod clients;
mod delivery;
mod demo;
mod fsfaults;
mod hardening;
mod hooks;
mod oracle;
mod page;
mod races;
mod resources;
mod scale;
mod sdk;
mod sftp;
mod siege;
mod state;
mod status;
mod support;
mod systemd;
mod webhooks;
