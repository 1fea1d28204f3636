//! Signed checkpoints of the audit chain's head, written outside the database: appended to a
//! file and logged. `berth audit verify` holds the chain to them, so deleting its newest
//! events, emptying the table or recomputing the chain is noticed. Every replica writes its
//! own (no lock): more checkpoints only make the check stricter.

use std::path::{Path, PathBuf};
use std::time::Duration;

use domain::audit::{AuditKey, Checkpoint};
use tokio::io::AsyncWriteExt;

use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write audit checkpoints to {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("audit checkpoints in {path}: {reason}")]
    Read { path: PathBuf, reason: String },
}

pub struct Checkpointer {
    store: Store,
    key: AuditKey,
    file: Option<PathBuf>,
    interval: Duration,
    /// The head the last checkpoint named.
    last: Option<i64>,
}

impl Checkpointer {
    pub fn new(store: Store, key: AuditKey, file: Option<PathBuf>, interval: Duration) -> Self {
        Checkpointer {
            store,
            key,
            file,
            interval,
            last: None,
        }
    }

    pub async fn run(mut self) {
        loop {
            if let Err(err) = self.once().await {
                tracing::warn!(error = %err, "audit checkpoint not written");
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// Signs the head if it moved since the last checkpoint; whether one was written.
    pub async fn once(&mut self) -> Result<bool, CheckpointError> {
        let Some((seq, hash)) = self.store.audit_head().await? else {
            return Ok(false);
        };
        if self.last == Some(seq) {
            return Ok(false);
        }
        let at = jiff::Timestamp::now().to_string();
        let checkpoint = Checkpoint::sign(seq, &hash, &at, &self.key);
        tracing::info!(
            target: "berth::audit",
            seq,
            hash = %hash,
            at = %at,
            mac = %checkpoint.mac,
            "audit checkpoint"
        );
        if let Some(path) = &self.file {
            let failed = |e: std::io::Error| CheckpointError::Write {
                path: path.clone(),
                reason: e.to_string(),
            };
            let line = serde_json::to_string(&checkpoint).map_err(|e| CheckpointError::Write {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .await
                .map_err(failed)?;
            file.write_all(format!("{line}\n").as_bytes())
                .await
                .map_err(failed)?;
            file.sync_data().await.map_err(failed)?;
        }
        self.last = Some(seq);
        Ok(true)
    }
}

/// The checkpoints in `path`, each checked for the key's signature. A missing file is an
/// error: it was configured, so checkpoints were written there.
pub fn read_checkpoints(path: &Path, key: &AuditKey) -> Result<Vec<Checkpoint>, CheckpointError> {
    let failed = |reason: String| CheckpointError::Read {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let checkpoint: Checkpoint = serde_json::from_str(line)
            .map_err(|e| failed(format!("line {} is not a checkpoint: {e}", i + 1)))?;
        if !checkpoint.signed_by(key) {
            return Err(failed(format!(
                "line {} is not signed with the audit key: the file was edited",
                i + 1
            )));
        }
        out.push(checkpoint);
    }
    Ok(out)
}
