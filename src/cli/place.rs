//! Where the command's store is: sled in `--data` (the default), or the log on a NATS
//! JetStream cluster (`--store nats://…`, SPEC 11) with `--data` as this process's cache (its
//! mirror of the log, checkpoints and personal-data vault).

use crate::error::Error;
use crate::store::jetstream::ClusterConfig;
use crate::store::Store;
use std::path::PathBuf;

pub(super) struct Place {
    pub data: PathBuf,
    pub cluster: Option<ClusterConfig>,
}

impl Place {
    /// Opens the store; `create` makes one where there is none (commands that write).
    pub fn open(&self, create: bool) -> Result<Store, Error> {
        match &self.cluster {
            Some(c) => Store::open_cluster(&self.data, c.clone(), create),
            None if create => Store::open(&self.data),
            None => self.existing(false),
        }
    }

    /// Opens the store of a command that only reads: it never creates one (SPEC 7 v2).
    /// `verify` on a cluster reads the whole log into a fresh mirror, never a cache.
    pub fn existing(&self, for_verify: bool) -> Result<Store, Error> {
        if let Some(c) = &self.cluster {
            return if for_verify {
                Store::open_cluster_fresh(c.clone())
            } else {
                Store::open_cluster(&self.data, c.clone(), false)
            };
        }
        let data = &self.data;
        if !Store::exists(data) {
            return Err(Error::Io(format!(
                "no store at {}: a store is made by the first `append` or `import`; give --data DIR (or set KAMLOG_DATA) to use another",
                data.display()
            )));
        }
        if for_verify {
            return Store::open_for_verify(data);
        }
        let store = Store::open(data)?;
        if let Some(p) = store.dropped_on_open() {
            eprintln!(
                "kamlog: dropped the append from position {p} on: a power cut left its pages unwritten, and it was never acknowledged; append those events again"
            );
        }
        Ok(store)
    }

    /// The directory where a running `serve` on this store leaves its `kamlog.serve` file.
    pub fn serving_dir(&self) -> PathBuf {
        match &self.cluster {
            Some(c) => c.mirror_dir(&self.data),
            None => self.data.clone(),
        }
    }
}

/// The `--store` value: a NATS URL (one server or several, comma-separated).
pub(super) fn parse_store(url: &str) -> Result<String, String> {
    let first = url.split(',').next().unwrap_or("").trim();
    if first.starts_with("nats://") || first.starts_with("tls://") {
        Ok(url.to_string())
    } else {
        Err(format!(
            "{url:?} is not a store URL: give nats://HOST:PORT[,HOST:PORT…] (a NATS JetStream cluster, nats-server 2.12 or later); without --store the log is kept in sled under --data"
        ))
    }
}
