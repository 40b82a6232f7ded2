//! Background compaction: a thread that drives [`Db::compact`] on an interval.
//!
//! The server starts one right after opening the database and keeps the handle for its
//! lifetime; dropping (or [`Compactor::stop`]ping) it ends the thread after the compaction in
//! progress, if any. The thread only holds a weak reference, so it never keeps a closed
//! database alive.

use std::io;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::db::Db;

/// Handle of the background compaction thread.
#[derive(Debug)]
pub struct Compactor {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Compactor {
    /// Starts calling `db.compact()` every `interval` (Prometheus uses one minute). Errors are
    /// logged and retried at the next tick: a full disk must not stop ingestion.
    pub fn spawn(db: &Arc<Db>, interval: Duration) -> io::Result<Compactor> {
        let weak: Weak<Db> = Arc::downgrade(db);
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tsdb-compactor".into())
            .spawn(move || {
                // A stop message or a dropped handle ends the loop; a timeout is a tick.
                while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(interval) {
                    let Some(db) = weak.upgrade() else { break };
                if let Err(e) = db.compact() {
                    tracing::error!(error = %e, "background compaction failed; retrying next interval");
                    }
                }
            })?;
        Ok(Compactor {
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for a compaction in progress to finish.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("compaction thread panicked");
            }
        }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.shutdown();
    }
}
