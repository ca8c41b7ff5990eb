//! `triage`: answers appKey/appToken authentication questions before a human has to.
//!
//! The pure core is `redact` -> `classify` -> `respond`; adapters (CLI, HTTP, Discord, import)
//! feed it through `pipeline`.

pub mod classify;
pub mod diagnose;
pub mod language;
pub mod lexicon;
pub mod normalize;
pub mod quoted;
pub mod redact;
pub mod rules;
pub mod scorer;
pub mod tokens;

pub use classify::{Classification, Classifier};
pub use language::Language;

pub mod cli;
pub mod config;
pub mod discord;
pub mod error;
pub mod eval;
pub mod helpdesk;
pub mod http;
pub mod pipeline;
pub mod render;
pub mod respond;
pub mod review;
pub mod startup;
pub mod stats;
pub mod store;
pub mod telemetry;

/// glibc's allocator makes a thread that frees what another thread allocated wait on a lock,
/// and the pipeline does exactly that (read and classify on one thread, store on another).
/// Declared in the library so that every binary (the CLI, benchmarks, tests) runs on the same
/// allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
