//! The dashboards' key-value bucket (`<prefix>_views`, keys `<account>.<view>`): each
//! touched account's latest views, put by the publisher after its alert pass.

use super::{bus_err, Names};
use crate::error::Result;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;

#[derive(Clone)]
pub struct Views {
    kv: jetstream::kv::Store,
}

impl Views {
    /// Opens the bucket, creating it if missing.
    pub async fn open(js: &jetstream::Context, names: &Names) -> Result<Views> {
        if let Ok(kv) = js.get_key_value(&names.bucket).await {
            return Ok(Views { kv });
        }
        // A KV bucket is a stream `KV_<bucket>` on `$KV.<bucket>.>`. It is created as a stream
        // here because async-nats' `create_key_value` sends settings that the Debian server
        // (2.9.10) answers in a shape the client does not parse.
        js.get_or_create_stream(stream::Config {
            name: format!("KV_{}", names.bucket),
            subjects: vec![format!("$KV.{}.>", names.bucket)],
            max_messages_per_subject: 1,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            num_replicas: names.replicas,
            ..Default::default()
        })
        .await
        .map_err(bus_err)?;
        let kv = js.get_key_value(&names.bucket).await.map_err(bus_err)?;
        Ok(Views { kv })
    }

    pub async fn put(&self, key: String, value: Bytes) -> Result<()> {
        self.kv.put(key, value).await.map_err(bus_err)?;
        Ok(())
    }
}
