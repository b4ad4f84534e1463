//! One partition: a run of segments, one writer, any number of readers.
//!
//! Appends are serialized by the writer lock; each one encodes the batch into
//! one buffer and writes it with a single positional write at the end of the
//! active segment (into the zeros the writer keeps ahead of it, filled 64 KiB
//! at a time by a write of their own: `Partition::make_room`). Only after the
//! write completed does the partition's state
//! (segment length, next offset, index) move, so a reader, which never reads
//! past that length, never sees a partial record.
//!
//! What readers may return is bounded by the *visible mark*: the written end
//! under `fsync = "never"`, the durable (fsynced) end otherwise. Every move of
//! the mark is published on a `watch` channel that long polls wait on.
//!
//! Under `fsync = "interval"` the partitions of an engine share one group
//! commit ([`GroupCommit`]): an append that leaves its partition with
//! unsynced data queues the partition, and one task fsyncs every queued
//! partition together (each on the blocking pool), then those queued
//! meanwhile, and ends when none is left. So a record becomes visible one
//! round of fsyncs after it was written (two if it arrived during one),
//! each fsync covers everything its partition held when it started, and an
//! idle log neither fsyncs nor wakes. `fsync_interval_ms` bounds how old
//! unsynced data may get while appends are still acknowledged unsynced:
//! once the oldest is older, each append waits for its own fsync, as under
//! `always`, until the disk catches up.

use std::{
    fs::{self, File, OpenOptions},
    io,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use rustok_iggy::{
    AppendAck, Error, ErrorKind, Message, PartitionStorage, PollFrom, Record, Result,
};
use tokio::sync::watch;

use crate::{
    config::FsyncPolicy,
    dedup::{DedupSettings, Window},
    error::{io_error, join_error, NAME},
    frame,
    fsutil::{preallocate, sync_dir},
    index::{self, IndexEntry, SparseIndex},
    segment::{log_name, read_records, Ahead, ReadPlan, Segment},
};

/// The settings a partition needs from the config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) fsync: FsyncPolicy,
    /// Under `interval`: the longest unsynced data may wait before appends
    /// stop being acknowledged ahead of their fsync (see the module docs).
    pub(crate) fsync_interval: Duration,
    pub(crate) segment_bytes: u64,
    pub(crate) index_interval: u64,
    pub(crate) dedup: DedupSettings,
}

impl Settings {
    pub(crate) fn durable(&self) -> bool {
        self.fsync != FsyncPolicy::Never
    }
}

/// A poll that asked for an offset retention had already removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Clamp {
    /// The offset asked for.
    pub(crate) requested: u64,
    /// The partition's first offset, where the poll started instead.
    pub(crate) first_offset: u64,
}

/// The writer's scratch state, guarded by the writer lock.
#[derive(Debug, Default)]
struct Writer {
    buf: Vec<u8>,
    lens: Vec<u64>,
    last_timestamp: u64,
    /// The ids appends deduplicate against, with `dedup_window` set.
    dedup: Option<Window>,
}

/// What an append did.
#[derive(Debug)]
pub(crate) struct Appended {
    /// Offsets of the appended records and the duplicates left out.
    pub(crate) ack: AppendAck,
    /// Whether it started a new segment.
    pub(crate) rolled: bool,
}

/// Scratch buffers above this are released after the append that needed them.
const KEEP_BUFFER: usize = 8 << 20;
/// Batches from this many encoded bytes on are written on the blocking pool.
pub(crate) const OFFLOAD_BYTES: usize = 4 << 20;
/// How far past a write the active segment's disk space is reserved ahead
/// of it (`fsutil::preallocate`). Never past `segment_bytes`, where the
/// segment rolls, so a sealed segment holds no space beyond its records.
const PREALLOCATE_AHEAD: u64 = 4 << 20;
/// The writer keeps the active segment's file filled with zeros up to the
/// next multiple of this past its records. An append then writes into
/// pages the page cache already holds, allocated 64 KiB at a time (as
/// large folios where the file system has them) rather than page by page
/// with every small write: 4 KB writes to 8 files took 0.42x the time on
/// ext4 here, 33 KB writes 0.51x (docs/benchmarks.md).
const ZERO_AHEAD: u64 = 64 << 10;
/// What [`ZERO_AHEAD`] fills with.
static ZEROS: [u8; ZERO_AHEAD as usize] = [0; ZERO_AHEAD as usize];

#[derive(Debug)]
pub(crate) struct State {
    /// Never empty; the last one is the active segment.
    pub(crate) segments: Vec<Segment>,
    /// Everything below this offset is fsynced.
    pub(crate) durable: u64,
    /// Set when an fsync or a rollback failed: nothing more may be appended.
    pub(crate) poisoned: Option<String>,
    /// The last poll clamped to the first offset.
    pub(crate) clamped: Option<Clamp>,
    /// Under `interval`: no later than the oldest record above `durable`
    /// was written (`None` when there is none), for the bound on how long
    /// unsynced data may wait.
    unsynced_since: Option<Instant>,
    /// Under `interval`: queued for (or in) the next round of the group
    /// commit, whose fsync has not taken its snapshot of this partition yet.
    queued: bool,
}

impl State {
    fn active(&self) -> &Segment {
        // `segments` is never empty (see `Partition::new`).
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    pub(crate) fn next_offset(&self) -> u64 {
        self.active().next
    }

    pub(crate) fn first_offset(&self) -> u64 {
        self.segments[0].base
    }

    /// The segment files' record bytes and their count (what `serve`
    /// reports as Iggy's partition size and segment count).
    pub(crate) fn storage(&self) -> PartitionStorage {
        PartitionStorage {
            bytes: self.segments.iter().map(|s| s.len).sum(),
            segments: u32::try_from(self.segments.len()).unwrap_or(u32::MAX),
        }
    }
}

/// One partition of a topic.
#[derive(Debug)]
pub(crate) struct Partition {
    dir: PathBuf,
    label: String,
    settings: Settings,
    /// Serializes appends. Async, so an append waiting for another (which
    /// may be rolling a segment on the blocking pool) never blocks a worker.
    writer: Arc<tokio::sync::Mutex<Writer>>,
    state: Mutex<State>,
    /// Serializes fsyncs, so concurrent `always` appends share one.
    sync_lock: tokio::sync::Mutex<()>,
    /// The engine's group commit, which fsyncs it under `interval`.
    commit: Arc<GroupCommit>,
    visible: watch::Sender<u64>,
    /// Set once its topic or the partition itself was deleted: appends and
    /// reads fail with NotFound, and background work skips it.
    removed: AtomicBool,
    /// Serializes the steps that delete or replace segment files (retention,
    /// `delete_segments`, purge): a deletion works on paths it took from the
    /// state earlier, which a purge in between would have reused for new
    /// files. Only taken on the blocking pool.
    files: Mutex<()>,
}

/// Locks a mutex, recovering from a panicked holder: every update here leaves
/// the state consistent before anything that could panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Microseconds since the Unix epoch.
pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Partition {
    /// A partition over recovered segments (oldest first, never empty),
    /// fsynced under `interval` by `commit`.
    pub(crate) fn new(
        dir: PathBuf,
        label: String,
        settings: Settings,
        segments: Vec<Segment>,
        commit: Arc<GroupCommit>,
    ) -> Self {
        let last_timestamp = segments.iter().map(|s| s.last_timestamp).max().unwrap_or(0);
        let state = State {
            durable: segments.last().map_or(0, |s| s.next),
            segments,
            poisoned: None,
            clamped: None,
            unsynced_since: None,
            queued: false,
        };
        let visible = watch::Sender::new(state.next_offset());
        Self {
            dir,
            label,
            settings,
            writer: Arc::new(tokio::sync::Mutex::new(Writer {
                last_timestamp,
                dedup: settings
                    .dedup
                    .enabled()
                    .then(|| Window::new(settings.dedup)),
                ..Writer::default()
            })),
            state: Mutex::new(state),
            sync_lock: tokio::sync::Mutex::new(()),
            commit,
            visible,
            removed: AtomicBool::new(false),
            files: Mutex::new(()),
        }
    }

    /// Fills the dedup window (with `dedup_window` set) from the newest
    /// records, right after recovery: the ids of everything acknowledged
    /// before a restart or a crash are remembered.
    pub(crate) fn load_dedup(&mut self) -> Result<()> {
        let Some(window) = Arc::get_mut(&mut self.writer).and_then(|w| w.get_mut().dedup.take())
        else {
            return Ok(());
        };
        let mut window = window;
        let (first, next) = {
            let state = self.state();
            (state.first_offset(), state.next_offset())
        };
        let now = now_micros();
        let mut from = next
            .saturating_sub(self.settings.dedup.window as u64)
            .max(first);
        while from < next {
            let records = self.read(PollFrom::Offset(from), 4_096)?;
            let Some(last) = records.last() else { break };
            from = last.offset + 1;
            window.load(&records, now);
        }
        if let Some(writer) = Arc::get_mut(&mut self.writer) {
            writer.get_mut().dedup = Some(window);
        }
        Ok(())
    }

    /// Marks the partition as deleted (with its topic, or by itself). Waits for an append in
    /// progress (under the writer lock) to finish, so none writes after this
    /// returns, then wakes long polls, which fail with NotFound. Blocking:
    /// call it on the blocking pool.
    pub(crate) fn mark_removed(&self) {
        {
            let _writer = self.writer.blocking_lock();
            let _state = self.state();
            self.removed.store(true, Ordering::Release);
        }
        self.visible.send_modify(|_| {});
    }

    /// Whether its topic was deleted.
    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    fn check_live(&self) -> Result<()> {
        if self.is_removed() {
            Err(Error::new(
                ErrorKind::NotFound,
                format!("partition {} was deleted", self.label),
            )
            .with_context("backend", NAME)
            .with_context("partition", &self.label))
        } else {
            Ok(())
        }
    }

    /// `stream/topic/partition`, for errors and logs.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// A receiver of the visible mark, for long polls.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.visible.subscribe()
    }

    fn visible_of(&self, state: &State) -> u64 {
        if self.settings.durable() {
            state.durable.min(state.next_offset())
        } else {
            state.next_offset()
        }
    }

    /// Moves the published visible mark up to what `state` allows.
    fn publish(&self, state: &State) {
        let visible = self.visible_of(state);
        self.visible.send_if_modified(|current| {
            let moved = visible > *current;
            if moved {
                *current = visible;
            }
            moved
        });
    }

    fn poisoned_error(&self, reason: &str) -> Error {
        Error::new(
            ErrorKind::Backend,
            format!(
                "partition {} refuses appends after an earlier failure ({reason}); \
                 reopen the data directory to recover",
                self.label
            ),
        )
        .with_context("backend", NAME)
    }

    fn poison(&self, state: &mut State, err: &Error) {
        tracing::error!(partition = %self.label, error = %err, "embedded partition poisoned");
        state.poisoned.get_or_insert_with(|| err.to_string());
    }

    /// Appends `messages`, except those whose id the dedup window holds,
    /// and says where they went. Under `fsync = "always"` it returns only
    /// once they are fsynced.
    ///
    /// Batches of at least [`OFFLOAD_BYTES`], and an append that rolls a
    /// segment (an fsync, an index file and a new file), run on tokio's
    /// blocking pool; other batches inline, where the hop would cost more than
    /// the page-cache copy it moves (see the crate docs).
    pub(crate) async fn append(self: &Arc<Self>, messages: Vec<Message>) -> Result<Appended> {
        let mut bytes = 0;
        for message in &messages {
            bytes += frame::check(message).map_err(|why| {
                Error::new(ErrorKind::InvalidInput, why)
                    .with_context("backend", NAME)
                    .with_context("partition", &self.label)
            })?;
        }
        let mut writer = self.writer.clone().lock_owned().await;
        let (messages, duplicates) = match writer.dedup.as_mut() {
            Some(window) => {
                // Only the writer moves the next offset.
                let first = self.state().next_offset();
                let split = window.split(messages, first, now_micros());
                (split.fresh, split.duplicates)
            }
            None => (messages, Vec::new()),
        };
        let count = messages.len() as u32;
        // Only the writer rolls, so this stays true until `write` runs.
        let (first, end, rolled) = if bytes >= OFFLOAD_BYTES || self.roll_due(&messages) {
            let this = self.clone();
            tokio::task::spawn_blocking(move || this.write(&mut writer, &messages))
                .await
                .map_err(|e| join_error("append", e))??
        } else {
            let written = self.write(&mut writer, &messages)?;
            drop(writer);
            written
        };
        let wait_for_fsync = match self.settings.fsync {
            FsyncPolicy::Always => true,
            FsyncPolicy::Interval => self.queue_for_commit(),
            FsyncPolicy::Never => false,
        };
        if wait_for_fsync {
            self.sync_to(end).await?;
        }
        Ok(Appended {
            ack: AppendAck {
                first_offset: first,
                count,
                duplicates,
            },
            rolled,
        })
    }

    /// Under `interval`, after a write: queues the partition for the group
    /// commit unless it is queued already (or nothing is unsynced), and
    /// tells whether the caller must wait for its own fsync: when the oldest
    /// unsynced record is older than `fsync_interval` (backpressure: the
    /// disk is slower than the bound allows), or when an fsync failed
    /// meanwhile (then that wait fails the append: its data can no longer
    /// become durable).
    ///
    /// The check runs under the state lock, as do the write that moved the
    /// next offset and the round's snapshot that clears `queued`, so data
    /// written while the partition is queued is always in a later snapshot.
    fn queue_for_commit(self: &Arc<Self>) -> bool {
        let (queue, overdue) = {
            let mut state = self.state();
            if state.poisoned.is_some() {
                return true;
            }
            if self.is_removed() {
                return false;
            }
            let queue = !state.queued && state.durable < state.next_offset();
            state.queued |= queue;
            let overdue = state
                .unsynced_since
                .is_some_and(|since| since.elapsed() >= self.settings.fsync_interval);
            (queue, overdue)
        };
        if queue {
            self.commit.queue(self.clone());
        }
        overdue
    }

    /// Whether appending `messages` starts a new segment.
    fn roll_due(&self, messages: &[Message]) -> bool {
        !messages.is_empty() && self.state().active().len >= self.settings.segment_bytes
    }

    /// The synchronous part of an append, under the writer lock: roll if
    /// due, encode, write; then settle what the dedup window remembered of
    /// the batch.
    fn write(&self, writer: &mut Writer, messages: &[Message]) -> Result<(u64, u64, bool)> {
        if writer.dedup.is_none() {
            return self.write_batch(writer, messages);
        }
        // Only the writer moves it: the offset the dedup split started at.
        let first = self.state().next_offset();
        let written = self.write_batch(writer, messages);
        if let Some(window) = writer.dedup.as_mut() {
            match written {
                Ok(_) => window.appended(),
                Err(_) => window.rolled_back(first),
            }
        }
        written
    }

    fn write_batch(&self, writer: &mut Writer, messages: &[Message]) -> Result<(u64, u64, bool)> {
        self.check_live()?;
        if let Some(reason) = &self.state().poisoned {
            return Err(self.poisoned_error(reason));
        }
        let rolled = self.roll_due(messages);
        if rolled {
            self.roll()?;
        }
        let (file, path, position, first, ahead) = {
            let state = self.state();
            let active = state.active();
            (
                active.file.clone(),
                active.path.clone(),
                active.len,
                active.next,
                active.ahead,
            )
        };
        if messages.is_empty() {
            return Ok((first, first, rolled));
        }
        let timestamp = now_micros().max(writer.last_timestamp);
        writer.buf.clear();
        writer.lens.clear();
        for (i, message) in messages.iter().enumerate() {
            let before = writer.buf.len();
            frame::encode(&mut writer.buf, first + i as u64, timestamp, message);
            writer.lens.push((writer.buf.len() - before) as u64);
        }
        let ahead = self.make_room(
            &file,
            &path,
            position,
            position + writer.buf.len() as u64,
            ahead,
        );
        if let Err(e) = file.write_all_at(&writer.buf, position) {
            let err = io_error("append", &path, e).with_context("partition", &self.label);
            // Cut what part of the batch reached the file, so stale frames never
            // sit past the end where a later, shorter write could expose them.
            let rollback = file.set_len(position);
            let mut state = self.state();
            match rollback {
                Ok(()) => state.active_mut().ahead.zeroed = position,
                Err(rollback) => self.poison(
                    &mut state,
                    &io_error("rollback", &path, rollback).with_context("partition", &self.label),
                ),
            }
            return Err(err);
        }
        writer.last_timestamp = timestamp;
        let count = messages.len() as u64;
        {
            let mut state = self.state();
            let active = state.active_mut();
            let mut at = position;
            for (i, len) in writer.lens.iter().enumerate() {
                active.index.observe(first + i as u64, at, *len, timestamp);
                at += len;
            }
            active.len = at;
            active.ahead = ahead;
            active.next = first + count;
            active.last_timestamp = timestamp;
            if self.settings.fsync == FsyncPolicy::Interval && state.unsynced_since.is_none() {
                state.unsynced_since = Some(Instant::now());
            }
            self.publish(&state);
        }
        if writer.buf.capacity() > KEEP_BUFFER {
            writer.buf = Vec::new();
        }
        Ok((first, first + count, rolled))
    }

    /// Prepares the file for a write of `position..end`, as far as `ahead`
    /// says it is not prepared yet: reserves disk space up to
    /// [`PREALLOCATE_AHEAD`] past the write, and fills the
    /// [`ZERO_AHEAD`]-aligned block the write ends in with zeros, both no
    /// further than `segment_bytes` (or `end`, if that is further). Neither
    /// is needed: a failure is logged and not retried before the writes
    /// pass where it would have ended; the write itself decides. Returns
    /// what is prepared.
    fn make_room(
        &self,
        file: &File,
        path: &Path,
        position: u64,
        end: u64,
        mut ahead: Ahead,
    ) -> Ahead {
        let cap = self.settings.segment_bytes.max(end);
        if end > ahead.allocated {
            let to = (end + PREALLOCATE_AHEAD).min(cap);
            if let Err(e) = preallocate(file, position, to - position) {
                tracing::debug!(segment = %path.display(), error = %e, "cannot preallocate");
            }
            ahead.allocated = to;
        }
        if end > ahead.zeroed {
            // Never over records (below `position`), at most one block.
            let from = ahead.zeroed.max(position).max(end - end % ZERO_AHEAD);
            let to = end.next_multiple_of(ZERO_AHEAD).min(cap);
            if from < to {
                // `to - from` is at most ZERO_AHEAD.
                let zeros = &ZEROS[..(to - from) as usize];
                if let Err(e) = file.write_all_at(zeros, from) {
                    tracing::debug!(segment = %path.display(), error = %e, "cannot fill ahead with zeros");
                }
            }
            ahead.zeroed = to;
        }
        ahead
    }

    /// Seals the active segment (zeros past its records cut, fsync under a
    /// durable policy, index file) and starts a new one at its next offset.
    /// Runs under the writer lock on the blocking pool; the state lock,
    /// which readers take, is held only to read the old segment and to
    /// publish the new one, never across I/O.
    fn roll(&self) -> Result<()> {
        #[cfg(test)]
        tests::note_roll(&self.label);
        let durable = self.settings.durable();
        let (file, path, index_path, index, base, len) = {
            let state = self.state();
            let old = state.active();
            (
                old.file.clone(),
                old.path.clone(),
                old.index_path(),
                old.index.encode(old.summary()),
                old.next,
                old.len,
            )
        };
        if let Err(e) = file.set_len(len) {
            // Recovery cuts them instead: the index no longer matches the
            // file's length, so the segment is scanned at open.
            tracing::warn!(segment = %path.display(), error = %e, "cannot cut the zeros past the records");
        }
        if durable {
            if let Err(e) = file.sync_data() {
                let err = io_error("fsync", &path, e).with_context("partition", &self.label);
                self.poison(&mut self.state(), &err);
                return Err(err);
            }
        }
        if let Err(e) = index::write_file(&index_path, &index) {
            // Derived data: reopening rebuilds it by scanning.
            tracing::warn!(segment = %path.display(), error = %e, "cannot write segment index");
        }
        let segment = create_segment(&self.dir, base, self.settings)?;
        let mut state = self.state();
        if durable {
            state.durable = state.durable.max(base);
            // The sealed segment holds everything written so far.
            state.unsynced_since = None;
        }
        state.segments.push(segment);
        self.publish(&state);
        Ok(())
    }

    /// Fsyncs every segment holding records at or above the durable mark
    /// (the active one, and under `never` the ones rolled since the last
    /// sync) unless everything below `target` already is. Concurrent callers
    /// queue on one lock, and each fsync covers everything written before it
    /// started (group commit); the next one starts as soon as the lock is
    /// released. An fsync failure poisons the partition: the page cache may
    /// have dropped the data, so it is never retried as if it had worked.
    pub(crate) async fn sync_to(&self, target: u64) -> Result<()> {
        let _turn = self.sync_lock.lock().await;
        let (unsynced, next, started) = {
            let state = self.state();
            if let Some(reason) = &state.poisoned {
                return Err(self.poisoned_error(reason));
            }
            if state.durable >= target {
                return Ok(());
            }
            let unsynced: Vec<(Arc<File>, PathBuf)> = state
                .segments
                .iter()
                .filter(|s| s.next > state.durable)
                .map(|s| (s.file.clone(), s.path.clone()))
                .collect();
            (unsynced, state.next_offset(), Instant::now())
        };
        #[cfg(test)]
        let label = self.label.clone();
        let result = tokio::task::spawn_blocking(move || {
            #[cfg(test)]
            tests::before_fsync(&label);
            for (file, path) in unsynced {
                file.sync_data().map_err(|e| (e, path))?;
            }
            Ok(())
        })
        .await;
        let mut state = self.state();
        let err = match result {
            Ok(Ok(())) => {
                state.durable = state.durable.max(next);
                if self.settings.fsync == FsyncPolicy::Interval {
                    // Whatever is still unsynced was written after this fsync started.
                    state.unsynced_since = (state.durable < state.next_offset()).then_some(started);
                }
                self.publish(&state);
                return Ok(());
            }
            Ok(Err((e, path))) => io_error("fsync", &path, e),
            Err(e) => join_error("fsync", e),
        };
        let err = err.with_context("partition", &self.label);
        self.poison(&mut state, &err);
        Err(err)
    }

    /// The offset the next append gets, and whether it is above the durable mark.
    pub(crate) fn pending_sync(&self) -> Option<u64> {
        let state = self.state();
        let next = state.next_offset();
        (state.durable < next && state.poisoned.is_none() && !self.is_removed()).then_some(next)
    }

    /// Reads up to `max` visible records from `from`.
    pub(crate) fn read(&self, from: PollFrom, max: u32) -> Result<Vec<Record>> {
        self.check_live()?;
        let max = max as usize;
        if max == 0 {
            return Ok(Vec::new());
        }
        let start = match from {
            PollFrom::Offset(offset) => {
                let mut state = self.state();
                let first = state.first_offset();
                if offset < first {
                    state.clamped = Some(Clamp {
                        requested: offset,
                        first_offset: first,
                    });
                }
                offset.max(first)
            }
            PollFrom::Timestamp(micros) => match self.offset_at_time(micros)? {
                Some(offset) => offset,
                None => return Ok(Vec::new()),
            },
        };
        let mut out = Vec::with_capacity(max.min(1024));
        let mut offset = start;
        while out.len() < max {
            let Some((plan, segment_next)) = self.plan(offset) else {
                break;
            };
            let outcome = read_records(&plan, &mut |r| r.offset >= start, &mut out, max)?;
            if !outcome.exhausted || segment_next >= plan.limit_offset {
                break;
            }
            offset = segment_next;
        }
        Ok(out)
    }

    /// How to read the segment holding `offset`, and that segment's next
    /// offset; `None` if `offset` is not visible.
    fn plan(&self, offset: u64) -> Option<(ReadPlan, u64)> {
        let state = self.state();
        let visible = self.visible_of(&state);
        if offset >= visible || offset < state.first_offset() {
            return None;
        }
        let i = state.segments.partition_point(|s| s.base <= offset);
        let segment = &state.segments[i.checked_sub(1)?];
        let start = segment.index.seek_offset(offset).unwrap_or(IndexEntry {
            offset: segment.base,
            position: 0,
            timestamp: 0,
        });
        Some((plan_of(segment, start, visible), segment.next))
    }

    /// The first visible record at or after `micros`.
    fn offset_at_time(&self, micros: u64) -> Result<Option<u64>> {
        let plan = {
            let state = self.state();
            let visible = self.visible_of(&state);
            let Some(segment) = state
                .segments
                .iter()
                .find(|s| s.records() > 0 && s.last_timestamp >= micros)
            else {
                return Ok(None);
            };
            let start = segment.index.seek_timestamp(micros).unwrap_or(IndexEntry {
                offset: segment.base,
                position: 0,
                timestamp: 0,
            });
            plan_of(segment, start, visible)
        };
        let mut found = Vec::with_capacity(1);
        read_records(&plan, &mut |r| r.timestamp_micros >= micros, &mut found, 1)?;
        Ok(found.first().map(|r| r.offset))
    }

    /// Deletes the oldest sealed segments that are older than `max_age` or
    /// that keep the partition above `max_bytes`; returns how many.
    pub(crate) fn apply_retention(
        &self,
        now: u64,
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
    ) -> Result<usize> {
        let age = max_age.map(|age| u64::try_from(age.as_micros()).unwrap_or(u64::MAX));
        self.remove_oldest("retention", |segment, total| {
            let too_old = age.is_some_and(|age| segment.last_timestamp.saturating_add(age) < now);
            let too_big = max_bytes.is_some_and(|limit| total > limit);
            too_old || too_big
        })
    }

    /// Deletes up to `count` of the oldest sealed segments (Iggy's
    /// `DeleteSegments`); returns how many.
    pub(crate) fn delete_segments(&self, count: u32) -> Result<usize> {
        let mut taken = 0;
        self.remove_oldest("delete_segments", |_, _| {
            taken += 1;
            taken <= count
        })
    }

    /// Deletes the oldest sealed segments while `remove(segment, bytes the
    /// partition holds with it)` says so, never the active one: drops them
    /// from the state first (the first offset moves up; reads no longer
    /// reach them), then deletes their files and, under durable policies,
    /// fsyncs the directory before returning. A crash part-way leaves a
    /// suffix of them, which recovery opens as the partition's start.
    /// Blocking.
    fn remove_oldest(
        &self,
        operation: &'static str,
        mut remove: impl FnMut(&Segment, u64) -> bool,
    ) -> Result<usize> {
        let _files = lock(&self.files);
        let removed: Vec<Segment> = {
            let mut state = self.state();
            if self.is_removed() {
                // Its directory is gone with it.
                return Ok(0);
            }
            let mut total: u64 = state.segments.iter().map(|s| s.len).sum();
            let mut n = 0;
            // The active (last) segment is never deleted.
            while n + 1 < state.segments.len() && remove(&state.segments[n], total) {
                total -= state.segments[n].len;
                n += 1;
            }
            state.segments.drain(..n).collect()
        };
        for segment in &removed {
            tracing::info!(segment = %segment.path.display(), operation, "deleting a segment");
            remove_if_present(operation, &segment.path)?;
            remove_if_present(operation, &segment.index_path())?;
        }
        if !removed.is_empty() && self.settings.durable() {
            sync_dir(&self.dir).map_err(|e| io_error(operation, &self.dir, e))?;
        }
        Ok(removed.len())
    }

    /// Empties the partition: afterwards it holds one empty segment at
    /// offset 0, as a new one does (Iggy's purge). The directory is renamed
    /// to [`PURGED_SUFFIX`] and a new one made in its place, then the old
    /// one is deleted: each step is atomic, and a directory left by a crash
    /// in between is removed when the topic is opened, so a crash leaves the
    /// partition either as it was or empty. Waits for appends and fsyncs in
    /// progress, and none starts until it is done. Blocking.
    pub(crate) fn purge(&self) -> Result<()> {
        let mut writer = self.writer.blocking_lock();
        let _sync = self.sync_lock.blocking_lock();
        let _files = lock(&self.files);
        self.check_live()?;
        let durable = self.settings.durable();
        let parent = self
            .dir
            .parent()
            .ok_or_else(|| io_error("purge", &self.dir, io::Error::other("no parent directory")))?;
        let trash = purged_dir(&self.dir);
        remove_dir_if_present(&trash).map_err(|e| io_error("purge", &trash, e))?;
        fs::rename(&self.dir, &trash).map_err(|e| io_error("purge", &self.dir, e))?;
        if durable {
            sync_dir(parent).map_err(|e| io_error("purge", parent, e))?;
        }
        let fresh = fs::create_dir(&self.dir)
            .map_err(|e| io_error("purge", &self.dir, e))
            .and_then(|()| create_segment(&self.dir, 0, self.settings));
        let segment = match fresh {
            Ok(segment) => segment,
            Err(e) => {
                // Nothing was acknowledged: put the old directory back
                // (reopening finds it either way).
                let _ = fs::remove_dir_all(&self.dir);
                let _ = fs::rename(&trash, &self.dir);
                return Err(e.with_context("partition", &self.label));
            }
        };
        if durable {
            sync_dir(parent).map_err(|e| io_error("purge", parent, e))?;
        }
        {
            let mut state = self.state();
            state.segments = vec![segment];
            state.durable = 0;
            state.clamped = None;
            state.unsynced_since = None;
            if let Some(window) = writer.dedup.as_mut() {
                *window = Window::new(self.settings.dedup);
            }
            // The mark goes down for once: long polls wake, and read from 0.
            self.visible.send_replace(0);
        }
        if let Err(e) = remove_dir_if_present(&trash) {
            // The purge itself is done and durable; the old files are
            // removed on the next open.
            tracing::warn!(dir = %trash.display(), error = %e, "cannot remove a purged partition's files");
        }
        Ok(())
    }

    /// On a clean shutdown: cuts the zeros past the active segment's
    /// records, so the file is left as long as they are, and writes its
    /// index. Waits for an append in progress.
    pub(crate) async fn close_active(&self) {
        let _writer = self.writer.lock().await;
        let (file, path, len, zeroed, index) = {
            let state = self.state();
            let active = state.active();
            (
                active.file.clone(),
                active.path.clone(),
                active.len,
                active.ahead.zeroed,
                (active.len > 0)
                    .then(|| (active.index_path(), active.index.encode(active.summary()))),
            )
        };
        if zeroed > len {
            if let Err(e) = file.set_len(len) {
                // Recovery cuts them on the next open.
                tracing::warn!(segment = %path.display(), error = %e, "cannot cut the zeros past the records");
            }
        }
        if let Some((index_path, bytes)) = index {
            if let Err(e) = index::write_file(&index_path, &bytes) {
                tracing::warn!(segment = %path.display(), error = %e, "cannot write segment index");
            }
        }
    }
}

/// The group commit of `fsync = "interval"`, one per engine: partitions with
/// unsynced data queue themselves, and one task fsyncs all queued partitions
/// at once (a *round*, each fsync on the blocking pool), then the partitions
/// queued during it, and ends when none is left. No timer: a round starts
/// as soon as the previous one ended, and nothing runs while the log is
/// idle.
///
/// One round for all partitions rather than a chain of fsyncs per
/// partition: fsyncs issued together can share one journal commit, and a
/// round lasts as long as its slowest fsync, so under a continuous load
/// each fsync covers more data. In `rustok-iggy bench --fsync interval
/// --events 200000` rounds made about half the fsyncs of per-partition
/// chains, at the same latency (docs/benchmarks.md).
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    pending: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    /// Partitions queued for the next round, each once (`State::queued`).
    queued: Vec<Arc<Partition>>,
    /// Whether the task running rounds is alive.
    running: bool,
}

impl GroupCommit {
    /// Adds `partition` to the next round, starting the task if none runs.
    fn queue(self: &Arc<Self>, partition: Arc<Partition>) {
        let start = {
            let mut pending = lock(&self.pending);
            pending.queued.push(partition);
            !std::mem::replace(&mut pending.running, true)
        };
        if start {
            tokio::spawn(Rounds::new(self.clone()).run());
        }
    }
}

/// The task of a [`GroupCommit`].
struct Rounds {
    commit: Arc<GroupCommit>,
    /// Whether dropping it must clean up: true until `run` ended on its
    /// own, so a task cancelled with its runtime leaves no partition queued
    /// for a task that is gone.
    running: bool,
}

impl Rounds {
    fn new(commit: Arc<GroupCommit>) -> Self {
        Self {
            commit,
            running: true,
        }
    }

    async fn run(mut self) {
        loop {
            let round = {
                let mut pending = lock(&self.commit.pending);
                if pending.queued.is_empty() {
                    pending.running = false;
                    self.running = false;
                    return;
                }
                std::mem::take(&mut pending.queued)
            };
            let syncs = round.into_iter().map(|partition| async move {
                let target = {
                    let mut state = partition.state();
                    // From here on, an append queues the partition again.
                    state.queued = false;
                    state.next_offset()
                };
                if !partition.is_removed() {
                    // A failure poisoned the partition (and was logged there),
                    // which will not be queued again.
                    let _ = partition.sync_to(target).await;
                }
            });
            futures::future::join_all(syncs).await;
        }
    }
}

impl Drop for Rounds {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        let queued = {
            let mut pending = lock(&self.commit.pending);
            pending.running = false;
            std::mem::take(&mut pending.queued)
        };
        // Their next append queues them again, and starts a new task.
        for partition in queued {
            partition.state().queued = false;
        }
    }
}

fn plan_of(segment: &Segment, start: IndexEntry, visible: u64) -> ReadPlan {
    ReadPlan {
        file: segment.file.clone(),
        path: segment.path.clone(),
        start,
        end: segment.len,
        limit_offset: visible,
        average_record: segment.len / segment.records().max(1),
    }
}

fn remove_if_present(operation: &'static str, path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(operation, path, e)),
        _ => Ok(()),
    }
}

/// What a purge renames a partition directory to before deleting it.
pub(crate) const PURGED_SUFFIX: &str = ".purged";

/// The directory a purge of the partition in `dir` moves its files to.
pub(crate) fn purged_dir(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(PURGED_SUFFIX);
    dir.with_file_name(name)
}

/// Removes a directory tree; one that does not exist is fine.
pub(crate) fn remove_dir_if_present(dir: &Path) -> io::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Creates an empty segment file starting at `base` in `dir` (and fsyncs the
/// directory, so the new file survives a crash, under durable policies).
pub(crate) fn create_segment(dir: &Path, base: u64, settings: Settings) -> Result<Segment> {
    let path = dir.join(log_name(base));
    // A file of this name can only be debris of a crash before it held data.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| io_error("create segment", &path, e))?;
    if settings.durable() {
        sync_dir(dir).map_err(|e| io_error("create segment", dir, e))?;
    }
    Ok(Segment {
        base,
        path,
        file: Arc::new(file),
        len: 0,
        ahead: Ahead::default(),
        next: base,
        last_timestamp: 0,
        index: SparseIndex::new(settings.index_interval),
    })
}

/// Opens an existing segment file read-write.
pub(crate) fn open_segment_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io_error("open segment", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rustok_iggy::Headers;
    use rustok_iggy_testkit::eventually;
    use std::{collections::BTreeMap, sync::Condvar};

    fn settings(fsync: FsyncPolicy) -> Settings {
        Settings {
            fsync,
            // Never reached unless a test stalls an fsync on purpose.
            fsync_interval: Duration::from_secs(60),
            segment_bytes: 1 << 20,
            index_interval: 4096,
            dedup: DedupSettings::default(),
        }
    }

    /// A partition whose only segment is `device` (a stand-in for a failing
    /// disk), labelled `label` (unique per test, for the fsync hooks).
    fn on_device(device: &str, label: &str, fsync: FsyncPolicy) -> Arc<Partition> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(device)
            .unwrap();
        let segment = Segment {
            base: 0,
            path: PathBuf::from(device),
            file: Arc::new(file),
            len: 0,
            ahead: Ahead::default(),
            next: 0,
            last_timestamp: 0,
            index: SparseIndex::new(4096),
        };
        Arc::new(Partition::new(
            PathBuf::from("/dev"),
            label.into(),
            settings(fsync),
            vec![segment],
            Arc::default(),
        ))
    }

    fn message() -> Message {
        Message {
            origin_timestamp_micros: None,
            id: 1,
            headers: Headers::new(),
            payload: Bytes::from_static(b"x"),
        }
    }

    /// The threads that rolled a segment, by partition label.
    static ROLLS: Mutex<Vec<(String, std::thread::ThreadId)>> = Mutex::new(Vec::new());

    pub(super) fn note_roll(label: &str) {
        lock(&ROLLS).push((label.to_owned(), std::thread::current().id()));
    }

    /// Per partition label: the thread of every fsync `sync_to` started, and
    /// whether fsyncs are held (a stand-in for a disk that does not answer).
    #[derive(Default)]
    struct Fsyncs {
        threads: Vec<std::thread::ThreadId>,
        held: bool,
    }

    static FSYNCS: Mutex<BTreeMap<String, Fsyncs>> = Mutex::new(BTreeMap::new());
    static RELEASED: Condvar = Condvar::new();

    /// Runs on the blocking pool before each fsync of `sync_to`: notes it,
    /// then waits while the partition's fsyncs are held.
    pub(super) fn before_fsync(label: &str) {
        let mut all = lock(&FSYNCS);
        all.entry(label.to_owned())
            .or_default()
            .threads
            .push(std::thread::current().id());
        while all.get(label).is_some_and(|f| f.held) {
            all = RELEASED.wait(all).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The threads of the fsyncs started on `label` so far.
    fn fsyncs(label: &str) -> Vec<std::thread::ThreadId> {
        lock(&FSYNCS)
            .get(label)
            .map(|f| f.threads.clone())
            .unwrap_or_default()
    }

    /// Holds the fsyncs of a partition until dropped, also when the test
    /// fails, so the blocking pool can shut down.
    struct Held(&'static str);

    impl Held {
        fn new(label: &'static str) -> Self {
            lock(&FSYNCS).entry(label.to_owned()).or_default().held = true;
            Self(label)
        }
    }

    impl Drop for Held {
        fn drop(&mut self) {
            if let Some(f) = lock(&FSYNCS).get_mut(self.0) {
                f.held = false;
            }
            RELEASED.notify_all();
        }
    }

    /// An empty partition in `dir`, fsynced under `interval` by `commit`.
    fn empty_partition(
        dir: &Path,
        label: &str,
        settings: Settings,
        commit: Arc<GroupCommit>,
    ) -> Arc<Partition> {
        let first = create_segment(dir, 0, settings).unwrap();
        Arc::new(Partition::new(
            dir.to_owned(),
            label.into(),
            settings,
            vec![first],
            commit,
        ))
    }

    /// `interval` settings with `fsync_interval` as the bound.
    fn interval(fsync_interval: Duration) -> Settings {
        Settings {
            fsync_interval,
            ..settings(FsyncPolicy::Interval)
        }
    }

    /// An empty `interval` partition in `dir`, with a group commit of its own.
    fn interval_partition(dir: &Path, label: &str, fsync_interval: Duration) -> Arc<Partition> {
        empty_partition(dir, label, interval(fsync_interval), Arc::default())
    }

    /// Whether the group commit of `p` has a task running.
    fn committing(p: &Partition) -> bool {
        lock(&p.commit.pending).running
    }

    /// Waits until the visible mark reaches `offset`. The timeout is a
    /// deadlock guard, not a statement about speed.
    async fn visible_reaches(p: &Partition, offset: u64) {
        let mut visible = p.subscribe();
        tokio::time::timeout(Duration::from_secs(120), visible.wait_for(|v| *v >= offset))
            .await
            .unwrap_or_else(|_| panic!("offset {offset} never became visible"))
            .unwrap();
    }

    /// The group commit of `interval` starts when data arrives, not when a
    /// period comes due: with an hour's `fsync_interval`, an appended record
    /// is visible after one fsync (with the fixed period of before, this
    /// test waited an hour).
    #[tokio::test]
    async fn under_interval_a_record_is_visible_after_one_fsync_not_after_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let label = "prompt/interval/0";
        let p = interval_partition(dir.path(), label, Duration::from_secs(3_600));
        p.append(vec![message()]).await.unwrap();
        visible_reaches(&p, 1).await;
        assert_eq!(p.read(PollFrom::Offset(0), 10).unwrap().len(), 1);
        assert_eq!(fsyncs(label).len(), 1, "one fsync made it visible");
    }

    /// Appends are acknowledged before their fsync; polls return them only
    /// after it, so a consumer never handles a record a crash can take back.
    #[tokio::test]
    async fn under_interval_polls_never_return_a_record_before_its_fsync_ended() {
        let dir = tempfile::tempdir().unwrap();
        let label = "held/interval/0";
        let p = interval_partition(dir.path(), label, Duration::from_secs(3_600));
        let held = Held::new(label);
        p.append(vec![message()]).await.unwrap();
        eventually("the group commit's fsync started", || async {
            fsyncs(label).len() == 1
        })
        .await;
        assert_eq!(p.state().next_offset(), 1, "acknowledged and counted");
        assert!(p.read(PollFrom::Offset(0), 10).unwrap().is_empty());
        assert_eq!(*p.subscribe().borrow(), 0);
        drop(held);
        visible_reaches(&p, 1).await;
        assert_eq!(p.read(PollFrom::Offset(0), 10).unwrap().len(), 1);
    }

    /// Partitions share the group commit: one queued while a round runs is
    /// fsynced in the next round, as soon as that one ended.
    #[tokio::test]
    async fn a_partition_queued_during_a_round_is_fsynced_in_the_next() {
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (label_a, label_b) = ("rounds/a/0", "rounds/b/0");
        let commit = Arc::new(GroupCommit::default());
        let open = |dir: &Path, label: &str| {
            empty_partition(
                dir,
                label,
                interval(Duration::from_secs(3_600)),
                commit.clone(),
            )
        };
        let (a, b) = (open(dir_a.path(), label_a), open(dir_b.path(), label_b));
        let held = Held::new(label_a);
        a.append(vec![message()]).await.unwrap();
        eventually("the first round's fsync started", || async {
            fsyncs(label_a).len() == 1
        })
        .await;
        b.append(vec![message()]).await.unwrap();
        assert!(b.state().queued, "queued for the next round");
        assert!(fsyncs(label_b).is_empty(), "joined a round under way");
        drop(held);
        visible_reaches(&a, 1).await;
        visible_reaches(&b, 1).await;
        eventually("the group commit ended", || async {
            !lock(&commit.pending).running
        })
        .await;
        assert_eq!((fsyncs(label_a).len(), fsyncs(label_b).len()), (1, 1));
    }

    /// A group commit cancelled with its runtime leaves nothing stuck: a
    /// partition it had queued is fsynced after its next append, on
    /// another runtime.
    #[test]
    fn a_group_commit_cancelled_with_its_runtime_leaves_no_partition_stuck() {
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (label_a, label_b) = ("cancel/a/0", "cancel/b/0");
        let commit = Arc::new(GroupCommit::default());
        let open = |dir: &Path, label: &str| {
            empty_partition(
                dir,
                label,
                interval(Duration::from_secs(3_600)),
                commit.clone(),
            )
        };
        let (a, b) = (open(dir_a.path(), label_a), open(dir_b.path(), label_b));
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        let held = Held::new(label_a);
        let first = runtime();
        first.block_on(async {
            a.append(vec![message()]).await.unwrap();
            eventually("the round's fsync started", || async {
                fsyncs(label_a).len() == 1
            })
            .await;
            b.append(vec![message()]).await.unwrap();
        });
        // Cancels the round waiting for `a`'s fsync, with `b` queued.
        first.shutdown_background();
        drop(held);
        assert!(!lock(&commit.pending).running);
        assert!(!b.state().queued);
        runtime().block_on(async {
            b.append(vec![message()]).await.unwrap();
            visible_reaches(&b, 2).await;
        });
    }

    /// Once everything is durable the group commit ends: no fsync, no task,
    /// no wake-up until the next append.
    #[tokio::test]
    async fn an_idle_interval_partition_neither_fsyncs_nor_keeps_a_task() {
        let dir = tempfile::tempdir().unwrap();
        let label = "idle/interval/0";
        let p = interval_partition(dir.path(), label, Duration::from_millis(1));
        p.append(vec![message()]).await.unwrap();
        visible_reaches(&p, 1).await;
        eventually("the group commit ended", || async { !committing(&p) }).await;
        // Room for a spinning task or a timer to show itself.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(fsyncs(label).len(), 1, "an idle partition fsynced again");
        assert!(
            !committing(&p),
            "a group commit started with nothing to sync"
        );
        assert!(!p.state().queued);
        assert_eq!(p.state().unsynced_since, None);
        // The next append starts the group commit again.
        p.append(vec![message()]).await.unwrap();
        visible_reaches(&p, 2).await;
        assert_eq!(fsyncs(label).len(), 2);
    }

    #[tokio::test]
    async fn under_interval_a_failed_fsync_poisons_the_partition() {
        // Writes to /dev/null succeed; fsync of it fails (EINVAL).
        let label = "poison/interval/0";
        let p = on_device("/dev/null", label, FsyncPolicy::Interval);
        // Acknowledged from the page cache, before the fsync.
        p.append(vec![message()]).await.unwrap();
        eventually("the background fsync failed", || async {
            p.state().poisoned.is_some()
        })
        .await;
        assert!(p.read(PollFrom::Offset(0), 10).unwrap().is_empty());
        assert_eq!(*p.subscribe().borrow(), 0, "never durable, never visible");
        let err = p.append(vec![message()]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Backend);
        assert!(err.to_string().contains("refuses appends"), "{err}");
        eventually("the group commit ended", || async { !committing(&p) }).await;
        assert_eq!(fsyncs(label).len(), 1, "a failed fsync was retried");
        assert!(p.sync_to(1).await.is_err());
    }

    /// `fsync_interval` bounds how old unsynced data gets while appends are
    /// acknowledged: past it (the disk does not keep up), an append waits
    /// for its own fsync.
    #[tokio::test]
    async fn under_interval_appends_wait_for_their_fsync_once_unsynced_data_is_overdue() {
        let dir = tempfile::tempdir().unwrap();
        let label = "overdue/interval/0";
        let p = interval_partition(dir.path(), label, Duration::from_millis(1));
        let held = Held::new(label);
        p.append(vec![message()]).await.unwrap();
        eventually("the group commit's fsync started", || async {
            fsyncs(label).len() == 1
        })
        .await;
        // The unsynced record is now older than the bound.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = tokio::spawn({
            let p = p.clone();
            async move {
                p.append(vec![message()]).await?;
                Ok::<_, Error>(p.state().durable)
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !second.is_finished(),
            "acknowledged unsynced while the disk was behind"
        );
        drop(held);
        let durable_at_ack = second.await.unwrap().unwrap();
        assert_eq!(durable_at_ack, 2, "acknowledged before its fsync");
    }

    /// Background fsyncs (`interval`) and those appends wait for
    /// (`always`) run on the blocking pool: on a current-thread runtime, none
    /// may run on the test's own thread.
    #[test]
    fn fsyncs_run_on_the_blocking_pool_not_on_an_async_worker() {
        let dir = tempfile::tempdir().unwrap();
        let interval = "pool/interval/0";
        let p = interval_partition(dir.path(), interval, Duration::from_secs(3_600));
        let always_dir = tempfile::tempdir().unwrap();
        let always = "pool/always/0";
        let q = empty_partition(
            always_dir.path(),
            always,
            settings(FsyncPolicy::Always),
            Arc::default(),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for n in 1..=3 {
                p.append(vec![message()]).await.unwrap();
                q.append(vec![message()]).await.unwrap();
                visible_reaches(&p, n).await;
            }
        });
        let worker = std::thread::current().id();
        for label in [interval, always] {
            let threads = fsyncs(label);
            assert!(!threads.is_empty(), "{label}: no fsync");
            assert!(
                threads.iter().all(|t| *t != worker),
                "{label}: an fsync ran on the async worker"
            );
        }
    }

    /// `Backend::flush` fsyncs only when asked to (under `never`, where
    /// nothing else does).
    #[tokio::test]
    async fn a_flush_fsyncs_only_when_asked_to() {
        use rustok_iggy::{Backend, TopicRef};

        let dir = tempfile::tempdir().unwrap();
        let config = crate::EmbeddedConfig::new(dir.path()).fsync(FsyncPolicy::Never);
        let backend = crate::EmbeddedBackend::open(config).await.unwrap();
        let topic = TopicRef::new("flush", "asked");
        let label = "flush/asked/0";
        backend.ensure_topic(&topic, 1).await.unwrap();
        backend.append(&topic, 0, vec![message()]).await.unwrap();
        backend.flush(&topic, 0, false).await.unwrap();
        assert!(fsyncs(label).is_empty(), "a flush without fsync synced");
        backend.flush(&topic, 0, true).await.unwrap();
        assert_eq!(fsyncs(label).len(), 1);
        backend.shutdown().await.unwrap();
    }

    /// A roll fsyncs and creates files: it must not run on an async worker.
    /// On a current-thread runtime the worker is the test's own thread.
    #[test]
    fn rolls_run_on_the_blocking_pool_not_on_an_async_worker() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            segment_bytes: 1,
            ..settings(FsyncPolicy::Always)
        };
        let label = "rolls/off/0";
        let p = empty_partition(dir.path(), label, settings, Arc::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for _ in 0..4 {
                p.append(vec![message()]).await.unwrap();
            }
        });
        let rolls: Vec<_> = lock(&ROLLS)
            .iter()
            .filter(|(l, _)| l == label)
            .map(|(_, thread)| *thread)
            .collect();
        assert_eq!(rolls.len(), 3, "one roll per append after the first");
        let worker = std::thread::current().id();
        assert!(
            rolls.iter().all(|t| *t != worker),
            "a roll ran on the async worker"
        );
        assert_eq!(p.state().segments.len(), 4);
    }

    #[tokio::test]
    async fn a_failed_fsync_poisons_the_partition_and_is_never_retried_as_success() {
        // Writes to /dev/null succeed; fsync of it fails (EINVAL).
        let p = on_device("/dev/null", "poison/always/0", FsyncPolicy::Always);
        let err = p.append(vec![message()]).await.unwrap_err();
        assert!(err.to_string().contains("fsync"), "{err}");
        assert!(p.state().poisoned.is_some());
        // Not visible: it was never durable.
        assert_eq!(*p.subscribe().borrow(), 0);
        let err = p.append(vec![message()]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Backend);
        assert!(err.to_string().contains("refuses appends"), "{err}");
        assert!(p.sync_to(1).await.is_err());
    }

    #[tokio::test]
    async fn a_full_disk_fails_the_append_with_a_clear_error() {
        // Writes to /dev/full fail with ENOSPC.
        let p = on_device("/dev/full", "full/never/0", FsyncPolicy::Never);
        let err = p.append(vec![message()]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.to_string().contains("disk is full"), "{err}");
        assert!(err.to_string().contains("/dev/full"), "{err}");
        assert_eq!(p.state().next_offset(), 0, "nothing was counted");
    }

    #[test]
    fn oversized_messages_are_invalid_input() {
        let p = on_device("/dev/null", "oversized/never/0", FsyncPolicy::Never);
        let big = Message {
            payload: Bytes::from(vec![0u8; frame::MAX_BODY_LEN + 1]),
            ..message()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = runtime.block_on(p.append(vec![big])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }
}
