//! The history engine: one walk through an account's business time that yields its state
//! at any instant, the stage history, the alert transitions and the audit timeline.
//!
//! - [`walk`]: the [`Walker`] — events enter at their `occurred_at`, interactions leave their
//!   windows, every instant is evaluated once and shown to the observers;
//! - [`expiry`]: the one queue of time-driven instants;
//! - [`step`]: one instant ([`Step`]: a frame and its cause) and the [`Observer`] trait;
//! - [`stage`], [`alerts`], [`timeline`]: the observers — stage history, alert transitions,
//!   the audit timeline;
//! - [`checkpoint`]: the walk's position and observers saved at business instants, so that a
//!   question about the past resumes from the nearest one instead of replaying.

pub mod alerts;
pub mod checkpoint;
pub mod expiry;
pub mod stage;
pub mod step;
pub mod timeline;
pub mod walk;

pub use alerts::{AlertTracker, OpenAlert};
pub use checkpoint::{Checkpoint, CheckpointRef, Walked};
pub use stage::StageTracker;
pub use step::{Cause, Observer, Step};
pub use walk::{walk, Position, Walker};
