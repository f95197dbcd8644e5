//! Reading the feed back for the bus tests: every message of the stream, and the checks
//! SPEC 6 makes of it (every stored event exactly once at its position, no alert transition
//! twice in a row).

use async_nats::jetstream;
use kamlog::bus;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Every message in the stream: (subject, Nats-Msg-Id, payload).
pub async fn read_stream(url: &str) -> Vec<(String, String, Value)> {
    let client = async_nats::connect(url).await.unwrap();
    let js = jetstream::new(client);
    let Ok(mut s) = js.get_stream(bus::STREAM).await else {
        return vec![];
    };
    let info = s.info().await.unwrap().clone();
    let mut out = vec![];
    for seq in info.state.first_sequence.max(1)..=info.state.last_sequence {
        if let Ok(m) = s.get_raw_message(seq).await {
            let id = m
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.as_str().to_string())
                .unwrap_or_default();
            out.push((
                m.subject.to_string(),
                id,
                serde_json::from_slice(&m.payload).unwrap_or(Value::Null),
            ));
        }
    }
    out
}

pub fn events_of(msgs: &[(String, String, Value)]) -> Vec<&(String, String, Value)> {
    msgs.iter()
        .filter(|m| m.0.starts_with("kamlog.events."))
        .collect()
}

/// How many messages the stream holds (events and alerts), 0 if it does not exist yet.
pub async fn stream_count(url: &str) -> u64 {
    let Ok(client) = async_nats::connect(url).await else {
        return 0;
    };
    let js = jetstream::new(client);
    let Ok(mut s) = js.get_stream(bus::STREAM).await else {
        return 0;
    };
    s.info().await.map(|i| i.state.messages).unwrap_or(0)
}

/// Waits until the stream holds `n` event messages (or the time runs out), then returns it.
pub async fn wait_for_events(url: &str, n: usize, secs: u64) -> Vec<(String, String, Value)> {
    let start = Instant::now();
    loop {
        // The cheap count first (it includes alert messages), then the full read.
        if stream_count(url).await >= n as u64 {
            let msgs = read_stream(url).await;
            if events_of(&msgs).len() >= n {
                return msgs;
            }
        }
        if start.elapsed() > Duration::from_secs(secs) {
            return read_stream(url).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks the event messages are exactly the stored events, once each, in position order.
pub fn assert_exactly_once(
    store_events: &[kamlog::event::StoredEvent],
    msgs: &[(String, String, Value)],
) {
    let events = events_of(msgs);
    let ids: Vec<&str> = events.iter().map(|m| m.1.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a message was duplicated");
    assert_eq!(events.len(), store_events.len(), "messages lost or extra");
    for (m, e) in events.iter().zip(store_events) {
        assert_eq!(m.1, e.event_id);
        assert_eq!(
            m.0,
            format!("kamlog.events.{}.{}", e.account_id, e.type_name())
        );
        assert_eq!(m.2["position"], json!(e.position));
        assert_eq!(m.2["hash"], json!(e.hash));
    }
}

/// No alert transition appears twice in a row for one alert (account, kind, subject).
pub fn assert_alternating(msgs: &[(String, String, Value)]) {
    let mut last: std::collections::HashMap<(String, String, String), String> = Default::default();
    for m in msgs.iter().filter(|m| m.0.contains(".alerts.")) {
        let key = (
            m.2["account_id"].as_str().unwrap().to_string(),
            m.2["kind"].as_str().unwrap().to_string(),
            m.2["subject"].as_str().unwrap().to_string(),
        );
        let state = m.2["state"].as_str().unwrap().to_string();
        let before = last.insert(key.clone(), state.clone());
        assert_ne!(
            before.as_deref(),
            Some(state.as_str()),
            "{key:?} {state} twice in a row"
        );
        if before.is_none() {
            assert_eq!(state, "raised", "{key:?} first published as {state}");
        }
    }
}
