//! All integration tests, in one binary: each file under `tests/` used to link its own copy of
//! serenity, sqlx and axum, which cost a link step and tens of megabytes of disk apiece.
//! Tests of the pure core (`classifier_table`, `respond_decisions`) need no I/O; the rest drive
//! the real binary, HTTP, Discord and SQLite.

mod classifier_table;
mod cli;
mod dashboard_browser;
mod discord;
mod hardening;
mod helpdesk;
mod http;
mod masking;
mod replicas;
mod respond_decisions;
mod review;
mod scorer;
mod store;
mod store_copy;
mod support;
