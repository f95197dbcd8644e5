//! The stream writer: every message kamlog puts in the `KAMLOG` stream goes through one
//! [`Feed`], which stores it only directly after its predecessor.
//!
//! Each message carries `Nats-Expected-Last-Sequence`: the stream sequence the feed believes
//! is the last one. Messages are pipelined (sent before the previous acknowledgement arrives)
//! with consecutive expectations, so if the server loses one (a restart, a dropped connection
//! with messages buffered across it) every message after it is refused instead of landing
//! beyond the hole. Any refusal or lost acknowledgement sends the publisher back to
//! [`Feed::sync`], which reads where the stream really ends (its last sequence and the
//! position of its last event message) and resumes from there; a missing stream is created
//! empty and refilled from the store.

use super::{bus_err, Names};
use crate::error::{Error, Result};
use async_nats::jetstream::{self, context::PublishAckFuture, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use std::time::Duration;

/// Where the stream ends, as read by [`Feed::sync`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamEnd {
    /// The stream's first and last sequence (0 and 0 for a new stream).
    pub first_seq: u64,
    pub last_seq: u64,
    /// The store position of the last event message in the stream (0 if it holds none).
    pub last_position: u64,
}

/// The only writer of the stream.
pub struct Feed {
    js: jetstream::Context,
    names: Names,
    duplicate_window: Duration,
    /// The sequence of the last message the stream acknowledged (or held when synced).
    last_seq: u64,
    /// Sent, not yet acknowledged, in order.
    inflight: Vec<PublishAckFuture>,
}

impl Feed {
    pub fn new(js: jetstream::Context, names: Names, duplicate_window: Duration) -> Feed {
        Feed {
            js,
            names,
            duplicate_window,
            last_seq: 0,
            inflight: Vec::new(),
        }
    }

    /// The sequence of the last message acknowledged (or found when synced).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn js(&self) -> &jetstream::Context {
        &self.js
    }

    /// Creates the stream if it is missing, then reads where it ends; the next message
    /// is expected right after its last one.
    pub async fn sync(&mut self) -> Result<StreamEnd> {
        self.inflight.clear();
        let mut s = self
            .js
            .get_or_create_stream(stream::Config {
                name: self.names.stream.clone(),
                subjects: vec![format!("{}.>", self.names.prefix)],
                duplicate_window: self.duplicate_window,
                num_replicas: self.names.replicas,
                ..Default::default()
            })
            .await
            .map_err(bus_err)?;
        let state = s.info().await.map_err(bus_err)?.state.clone();
        let (first, last) = (state.first_sequence, state.last_sequence);
        let events = format!("{}.events.", self.names.prefix);
        let mut last_position = 0;
        let mut seq = last;
        while seq >= first.max(1) && state.messages > 0 {
            match s.get_raw_message(seq).await {
                Ok(m) if m.subject.starts_with(events.as_str()) => {
                    last_position = m
                        .headers
                        .get("Kamlog-Position")
                        .and_then(|v| v.as_str().parse::<u64>().ok())
                        .ok_or_else(|| {
                            Error::Bus(format!(
                                "the event message at stream sequence {seq} has no Kamlog-Position header"
                            ))
                        })?;
                    break;
                }
                // An alert message, or one deleted from the stream.
                _ => seq -= 1,
            }
        }
        self.last_seq = last;
        Ok(StreamEnd {
            first_seq: first,
            last_seq: last,
            last_position,
        })
    }

    /// The raw messages at stream sequences `from..=to` that are still in the stream, as
    /// (sequence, subject, payload).
    pub async fn read(&self, from: u64, to: u64) -> Result<Vec<(u64, String, Bytes)>> {
        let s = self
            .js
            .get_stream(&self.names.stream)
            .await
            .map_err(bus_err)?;
        let mut out = Vec::new();
        for seq in from.max(1)..=to {
            if let Ok(m) = s.get_raw_message(seq).await {
                out.push((seq, m.subject.to_string(), m.payload));
            }
        }
        Ok(out)
    }

    /// Sends one message, expected directly after the last one sent.
    pub async fn send(
        &mut self,
        subject: String,
        mut headers: HeaderMap,
        payload: Bytes,
    ) -> Result<()> {
        let expected = self.last_seq + self.inflight.len() as u64;
        headers.insert("Nats-Expected-Last-Sequence", expected.to_string().as_str());
        let ack = self
            .js
            .publish_with_headers(subject, headers, payload)
            .await
            .map_err(bus_err)?;
        self.inflight.push(ack);
        Ok(())
    }

    /// Waits for every message sent; returns their stream sequences in the order sent. A
    /// refusal (a lost predecessor, a duplicate) is an error: the caller syncs again.
    pub async fn settle(&mut self) -> Result<Vec<u64>> {
        let mut seqs = Vec::with_capacity(self.inflight.len());
        for ack in std::mem::take(&mut self.inflight) {
            let a = ack.await.map_err(bus_err)?;
            if a.duplicate || a.sequence != self.last_seq + 1 {
                return Err(Error::Bus(format!(
                    "the stream stored a message at sequence {} (duplicate: {}) where {} was expected; resynchronising",
                    a.sequence,
                    a.duplicate,
                    self.last_seq + 1
                )));
            }
            self.last_seq = a.sequence;
            seqs.push(a.sequence);
        }
        Ok(seqs)
    }
}
