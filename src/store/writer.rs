//! Group commit. Appenders frame their record into a shared buffer under a short lock
//! and get a [`Ticket`] naming its log sequence number; one writer thread swaps the
//! buffer out, writes it with one `write`, syncs once for the whole batch and then
//! acknowledges every record in it. While a sync is in flight new records pile up in the
//! other buffer and share the next sync, so N concurrent appenders cost about one sync
//! per batch, not N.

use std::fs::File;
use std::future::{Future, IntoFuture};
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

use event_listener::{Event, Listener};

use crate::config::SyncMode;
use crate::error::{Error, Result};

use super::log::{Record, frame};

/// Bytes waiting for the writer beyond which appenders wait: bounds memory when the disk
/// is slower than the feed.
const MAX_PENDING_BYTES: usize = 64 << 20;

/// The segment file currently appended to.
pub(crate) struct Active {
    pub(crate) file: File,
    pub(crate) number: u64,
    pub(crate) len: u64,
}

struct Queue {
    buf: Vec<u8>,
    /// Sequence number the next record gets (the first is 1).
    next_lsn: u64,
    shutdown: bool,
}

pub(crate) struct Shared {
    queue: Mutex<Queue>,
    work: Condvar,
    space: Condvar,
    /// Highest sequence number acknowledged under the sync mode.
    acked: AtomicU64,
    /// Syncs issued (group commit: fewer than records under concurrency).
    pub(crate) syncs: AtomicU64,
    failed: OnceLock<String>,
    acked_event: Event,
    pub(crate) active: Mutex<Active>,
}

/// Handle to one appended record. Resolves once the record is durable under the store's
/// sync mode: [`Ticket::wait`] blocks the calling thread, `.await` suspends a task
/// without blocking its runtime thread.
#[must_use = "a record is only durable once its ticket resolves"]
pub struct Ticket {
    lsn: u64,
    shared: Option<Arc<Shared>>,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket").field("lsn", &self.lsn).finish()
    }
}

impl Ticket {
    /// A ticket that is already resolved (nothing was written).
    pub fn ready() -> Self {
        Ticket { lsn: 0, shared: None }
    }

    /// The record's log sequence number within this run (0 for [`Ticket::ready`]).
    pub fn lsn(&self) -> u64 {
        self.lsn
    }

    /// `Some` once the ticket has resolved.
    fn poll_state(&self) -> Option<Result<()>> {
        let shared = self.shared.as_ref()?;
        if shared.acked.load(Ordering::Acquire) >= self.lsn {
            return Some(Ok(()));
        }
        shared.failed.get().map(|reason| Err(Error::StoreFailed { reason: reason.clone() }))
    }

    /// Blocks until the record is durable (or the log failed).
    pub fn wait(self) -> Result<()> {
        let Some(shared) = self.shared.clone() else { return Ok(()) };
        loop {
            if let Some(done) = self.poll_state() {
                return done;
            }
            let listener = shared.acked_event.listen();
            if let Some(done) = self.poll_state() {
                return done;
            }
            listener.wait();
        }
    }
}

impl IntoFuture for Ticket {
    type Output = Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let Some(shared) = self.shared.clone() else { return Ok(()) };
            loop {
                if let Some(done) = self.poll_state() {
                    return done;
                }
                let listener = shared.acked_event.listen();
                if let Some(done) = self.poll_state() {
                    return done;
                }
                listener.await;
            }
        })
    }
}

/// The appending side of the log: the shared state plus the writer thread.
pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub(crate) fn start(active: Active, mode: SyncMode, interval: std::time::Duration) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { buf: Vec::new(), next_lsn: 1, shutdown: false }),
            work: Condvar::new(),
            space: Condvar::new(),
            acked: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            failed: OnceLock::new(),
            acked_event: Event::new(),
            active: Mutex::new(active),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("neardup-log".into())
            .spawn(move || write_loop(&thread_shared, mode, interval))
            .expect("spawning the log writer thread");
        Writer { shared, thread: Mutex::new(Some(thread)) }
    }

    /// Frames `record` into the queue and returns its ticket. Blocks only while the
    /// queue is over its byte limit.
    pub(crate) fn append(&self, record: &Record<'_>) -> Result<Ticket> {
        let mut queue = lock(&self.shared.queue);
        while queue.buf.len() >= MAX_PENDING_BYTES && self.shared.failed.get().is_none() {
            queue = self.shared.space.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
        if let Some(reason) = self.shared.failed.get() {
            return Err(Error::StoreFailed { reason: reason.clone() });
        }
        if queue.shutdown {
            return Err(Error::StoreFailed { reason: "the store is closed".into() });
        }
        frame(&mut queue.buf, record);
        let lsn = queue.next_lsn;
        queue.next_lsn += 1;
        drop(queue);
        self.shared.work.notify_one();
        metrics::counter!("neardup_log_appends_total").increment(1);
        Ok(Ticket { lsn, shared: Some(Arc::clone(&self.shared)) })
    }

    /// A ticket that resolves once everything appended so far is durable.
    pub(crate) fn barrier(&self) -> Ticket {
        let lsn = lock(&self.shared.queue).next_lsn - 1;
        Ticket { lsn, shared: Some(Arc::clone(&self.shared)) }
    }

    pub(crate) fn failure(&self) -> Option<String> {
        self.shared.failed.get().cloned()
    }

    /// Writes and syncs everything queued, then stops the thread.
    pub(crate) fn shutdown(&self) -> Result<()> {
        lock(&self.shared.queue).shutdown = true;
        self.shared.work.notify_one();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
        match self.failure() {
            Some(reason) => Err(Error::StoreFailed { reason }),
            None => Ok(()),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data consistent before anything can panic.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn write_loop(shared: &Shared, mode: SyncMode, interval: std::time::Duration) {
    let mut spare = Vec::new();
    let mut last_sync = Instant::now();
    let mut unsynced = false;
    loop {
        let (last_lsn, shutdown) = {
            let mut queue = lock(&shared.queue);
            while queue.buf.is_empty() && !queue.shutdown {
                if mode == SyncMode::Batch && unsynced {
                    let left = interval.saturating_sub(last_sync.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    queue =
                        shared.work.wait_timeout(queue, left).unwrap_or_else(|e| e.into_inner()).0;
                } else {
                    queue = shared.work.wait(queue).unwrap_or_else(|e| e.into_inner());
                }
            }
            std::mem::swap(&mut queue.buf, &mut spare);
            (queue.next_lsn - 1, queue.shutdown)
        };
        shared.space.notify_all();
        let result = (|| -> std::io::Result<()> {
            let mut active = lock(&shared.active);
            if !spare.is_empty() {
                active.file.write_all(&spare)?;
                active.len += spare.len() as u64;
                unsynced = true;
            }
            let sync_now = match mode {
                SyncMode::Always => unsynced,
                SyncMode::Batch => unsynced && (shutdown || last_sync.elapsed() >= interval),
                SyncMode::Never => shutdown && unsynced,
            };
            if sync_now {
                let sync_started = Instant::now();
                active.file.sync_data()?;
                metrics::histogram!("neardup_log_fsync_seconds").record(sync_started.elapsed());
                metrics::counter!("neardup_log_fsyncs_total").increment(1);
                shared.syncs.fetch_add(1, Ordering::Relaxed);
                unsynced = false;
                last_sync = Instant::now();
            }
            Ok(())
        })();
        spare.clear();
        match result {
            Ok(()) => shared.acked.store(last_lsn, Ordering::Release),
            Err(error) => {
                tracing::error!(%error, "log write failed; the store refuses further appends");
                let _ = shared.failed.set(error.to_string());
                shared.space.notify_all();
            }
        }
        shared.acked_event.notify(usize::MAX);
        if shutdown || shared.failed.get().is_some() {
            let queue = lock(&shared.queue);
            if queue.buf.is_empty() || shared.failed.get().is_some() {
                return;
            }
        }
    }
}
