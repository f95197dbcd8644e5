//! # kamlog
//!
//! An event-sourced relationship history engine for key account management. Every
//! interaction, stakeholder change, agreed objective and value milestone of a key account is
//! an immutable event; the relationship stage, succession-risk coverage and value delivered
//! against value promised are rebuilt from those events alone, as of any time.
//!
//! The path of an event through the crate:
//!
//! 1. [`event`] reads JSONL, checks each envelope and payload against the catalog (SPEC 2),
//!    and produces typed [`event::NewEvent`]s; errors name the line, event, field and reason.
//! 2. [`store`] appends them through a single writer thread: it validates each against the
//!    account's history with the strict fold of [`model`], assigns gap-free positions and
//!    versions, chains the hashes, writes one atomic sled batch per request and flushes
//!    before it acknowledges (one flush shared by all waiting callers).
//! 3. [`model`] folds an account's events into an [`model::AccountState`]; the same fold,
//!    in its lenient mode, feeds every view.
//! 4. [`history`] walks an account through business time — events enter at their
//!    `occurred_at`, interactions leave their windows — and yields the state at any instant,
//!    the stage history, the alert transitions and the audit timeline; its checkpoints let a
//!    question about the past resume near its answer.
//! 5. [`view`] holds the typed views, pure functions of a state and an as-of time; [`alert`]
//!    the alert kinds and their conditions.
//! 6. [`query`] is the read side everyone uses (the CLI, `serve`): selection by as-of and
//!    known-at, the checkpoint cache, views, alerts, the timeline.
//! 7. [`bus`] publishes to NATS JetStream and answers requests.
//!
//! `src/main.rs` is only the command-line entry; [`cli`] holds one file per command and
//! renders the typed answers; nothing else imports it.

pub mod alert;
pub mod allocator;
pub mod bus;
pub mod cli;
pub mod command;
pub mod error;
pub mod event;
pub mod history;
pub mod import;
pub mod model;
pub mod nats;
pub mod personal;
pub mod query;
pub mod review;
pub mod schemas;
pub mod store;
pub mod suggest;
pub mod view;
pub mod web;
pub mod workload;

pub use error::{Error, Result};
pub use store::Store;
