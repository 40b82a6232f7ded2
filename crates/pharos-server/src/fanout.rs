//! The storage that queries read: local TSDB data merged with every `remote_read` endpoint's
//! answer, as Prometheus's fanout storage does.
//!
//! Local storage is primary: its errors fail the query. A remote is secondary: its failure
//! becomes a warning on the response and the query goes on with what the others returned.
//! Series with identical labels from several sources are merged into one, timestamps deduped
//! with the local sample kept.
//!
//! Two forms share one querier: [`FanoutStorage`] borrows the server state for one API request
//! and gathers remote failures as response warnings; [`OwnedFanoutStorage`] is kept by the rule
//! manager, whose groups evaluate on their own threads outside the runtime, so it carries a
//! runtime handle to send requests on and only logs remote failures (a rule evaluates on what
//! was read, as in Prometheus).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use pharos_model::{FloatHistogram, Labels, Matcher};
use pharos_remote::read_client::ReadClient;
use pharos_remote::read_config::RemoteReadConfig;
pub use pharos_remote::read_handler::ReadLimits;
use pharos_remote::read_message::{ReadSeries, ReadValue};
use pharos_tsdb::{
    Db, Querier, Queryable, SelectHints, Series, SeriesIterator, StorageError, ValueKind,
};

/// Margin added to the oldest local timestamp before remotes without `read_recent` are skipped,
/// as Prometheus adds twice the minimum block duration (2h).
const START_TIME_MARGIN_MS: i64 = 2 * 2 * 3600 * 1000;

/// How long the oldest local timestamp is cached; without blocks, computing it walks the
/// head's series.
const START_TIME_CACHE: Duration = Duration::from_secs(10);

/// The remote read side of the server: configured clients and the limits of `/api/v1/read`.
pub struct RemoteReadState {
    clients: RwLock<Arc<Vec<ReadClient>>>,
    /// `global.external_labels`, added as matchers to remote requests and stripped from answers.
    external_labels: RwLock<Labels>,
    /// `--storage.remote.read-sample-limit` and `--storage.remote.read-max-bytes-in-frame`.
    pub limits: ReadLimits,
    /// Bounds concurrent `/api/v1/read` requests (`--storage.remote.read-concurrent-limit`);
    /// `None` when unlimited.
    pub gate: Option<Arc<tokio::sync::Semaphore>>,
    start_time: Mutex<Option<(Instant, Option<i64>)>>,
}

impl RemoteReadState {
    /// State with no remote configured yet.
    pub fn new(limits: ReadLimits, concurrent_limit: usize) -> Self {
        RemoteReadState {
            clients: RwLock::new(Arc::new(Vec::new())),
            external_labels: RwLock::new(Labels::empty()),
            limits,
            gate: (concurrent_limit > 0)
                .then(|| Arc::new(tokio::sync::Semaphore::new(concurrent_limit))),
            start_time: Mutex::new(None),
        }
    }

    /// Takes `external_labels` and replaces the clients with ones built from `configs`; on an
    /// error the old clients stay. The labels are taken in any case, since the server adopts
    /// the new configuration's global section even when a reload partly fails.
    pub fn apply(
        &self,
        configs: &[RemoteReadConfig],
        external_labels: Labels,
    ) -> Result<(), String> {
        *self
            .external_labels
            .write()
            .unwrap_or_else(|e| e.into_inner()) = external_labels;
        let clients = configs
            .iter()
            .map(|c| {
                ReadClient::new(c.clone())
                    .map_err(|e| format!("remote_read {:?}: {e}", c.display_name()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        *self.clients.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(clients);
        Ok(())
    }

    /// The clients in force.
    pub fn clients(&self) -> Arc<Vec<ReadClient>> {
        self.clients
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The external labels in force.
    pub fn external_labels(&self) -> Labels {
        self.external_labels
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The oldest time local storage covers plus Prometheus's margin, or `None` when empty.
    fn local_start(&self, db: &Db) -> Option<i64> {
        let mut cache = self.start_time.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, v)) = *cache {
            if at.elapsed() < START_TIME_CACHE {
                return v;
            }
        }
        let v = db
            .start_time()
            .map(|oldest| oldest.saturating_add(START_TIME_MARGIN_MS));
        *cache = Some((Instant::now(), v));
        v
    }
}

/// One query's view of local and remote storage; collects the remotes' failures as warnings.
pub struct FanoutStorage<'a> {
    db: &'a Db,
    remote: &'a RemoteReadState,
    clients: Arc<Vec<ReadClient>>,
    external_labels: Labels,
    warnings: Mutex<Vec<String>>,
}

impl<'a> FanoutStorage<'a> {
    /// A view over `db` and the remotes configured in `remote`.
    pub fn new(db: &'a Db, remote: &'a RemoteReadState, external_labels: Labels) -> Self {
        FanoutStorage {
            db,
            remote,
            clients: remote.clients(),
            external_labels,
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// The view queries of the server `st` read through, with its external labels.
    pub fn for_state(st: &'a crate::server::AppState) -> Self {
        FanoutStorage::new(&st.db, &st.remote_read, st.remote_read.external_labels())
    }

    /// The warnings gathered so far (remote failures), deduplicated in order.
    pub fn take_warnings(&self) -> Vec<String> {
        let mut w = std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()));
        let mut seen = std::collections::HashSet::new();
        w.retain(|m| seen.insert(m.clone()));
        w
    }
}

impl Queryable for FanoutStorage<'_> {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(FanoutQuerier {
            local: self.db.querier(mint, maxt)?,
            remotes: RemoteReads {
                db: self.db,
                state: self.remote,
                clients: self.clients.clone(),
                external_labels: self.external_labels.clone(),
                runtime: None,
                warnings: Some(&self.warnings),
            },
            mint,
            maxt,
        }))
    }
}

/// Local storage merged with the remotes, owning its parts so that the rule manager can keep it
/// for as long as it runs; clients and external labels are read at each querier, so reloads
/// apply to the next evaluation.
pub struct OwnedFanoutStorage {
    db: Arc<Db>,
    remote: Arc<RemoteReadState>,
    runtime: tokio::runtime::Handle,
}

impl OwnedFanoutStorage {
    /// A storage over `db` and `remote` that sends remote requests on `runtime`. It must be
    /// queried from threads that are not the runtime's workers (rule group threads, blocking
    /// tasks), since a querier waits for the requests it sends.
    pub fn new(db: Arc<Db>, remote: Arc<RemoteReadState>, runtime: tokio::runtime::Handle) -> Self {
        OwnedFanoutStorage {
            db,
            remote,
            runtime,
        }
    }
}

impl Queryable for OwnedFanoutStorage {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(FanoutQuerier {
            local: self.db.querier(mint, maxt)?,
            remotes: RemoteReads {
                db: &self.db,
                state: &self.remote,
                clients: self.remote.clients(),
                external_labels: self.remote.external_labels(),
                runtime: Some(&self.runtime),
                warnings: None,
            },
            mint,
            maxt,
        }))
    }
}

/// What a querier needs to ask the remotes: the clients and external labels in force when it
/// was opened, the runtime requests run on and where failures go.
struct RemoteReads<'a> {
    db: &'a Db,
    state: &'a RemoteReadState,
    clients: Arc<Vec<ReadClient>>,
    external_labels: Labels,
    /// `None`: the runtime of the calling thread (API queries run on blocking tasks).
    runtime: Option<&'a tokio::runtime::Handle>,
    /// Where failures are gathered for the response; `None` only logs them.
    warnings: Option<&'a Mutex<Vec<String>>>,
}

impl RemoteReads<'_> {
    fn warn(&self, message: String) {
        match self.warnings {
            Some(w) => {
                tracing::warn!(error = %message, "remote read failed; answering with partial data");
                w.lock().unwrap_or_else(|e| e.into_inner()).push(message);
            }
            None => {
                tracing::warn!(error = %message, "remote read failed; evaluating on the data read")
            }
        }
    }

    /// Asks every applicable remote for `matchers` over `[mint, maxt]`, concurrently.
    fn read(
        &self,
        mint: i64,
        maxt: i64,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Vec<ReadSeries> {
        if self.clients.is_empty() {
            return Vec::new();
        }
        let local_start = if self.clients.iter().any(|c| !c.config().read_recent) {
            self.state.local_start(self.db)
        } else {
            None
        };
        let handle = match self.runtime {
            Some(h) => h.clone(),
            None => match tokio::runtime::Handle::try_current() {
                Ok(h) => h,
                Err(_) => {
                    self.warn("remote_read: no runtime to send requests on".into());
                    return Vec::new();
                }
            },
        };
        let mut tasks = Vec::new();
        for c in self.clients.iter() {
            let Some(mut planned) =
                c.plan(mint, maxt, matchers, &self.external_labels, local_start)
            else {
                continue;
            };
            if let Some(h) = hints {
                planned.query.hints = Some(pharos_remote::read_message::ReadHints {
                    func: h.func.clone().unwrap_or_default(),
                    start_ms: h.start,
                    end_ms: h.end,
                    ..Default::default()
                });
            }
            let client = c.clone();
            tasks.push(handle.spawn(async move { client.read(&planned).await }));
        }
        let mut out = Vec::new();
        for task in tasks {
            match handle.block_on(task) {
                Ok(Ok(series)) => out.extend(series),
                Ok(Err(e)) => self.warn(format!("remote_read: {e}")),
                Err(e) => self.warn(format!("remote_read: request task failed: {e}")),
            }
        }
        out
    }
}

/// Local series merged with the remotes' answers, for whichever fanout storage opened it.
struct FanoutQuerier<'a> {
    local: Box<dyn Querier + 'a>,
    remotes: RemoteReads<'a>,
    mint: i64,
    maxt: i64,
}

impl Querier for FanoutQuerier<'_> {
    fn select(
        &self,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Vec<Box<dyn Series + '_>>, StorageError> {
        let local = self.local.select(hints, matchers)?;
        let remote = self.remotes.read(self.mint, self.maxt, hints, matchers);
        if remote.is_empty() {
            return Ok(local);
        }
        let mut by_labels: BTreeMap<Labels, Vec<Box<dyn Series + '_>>> = BTreeMap::new();
        for s in local {
            by_labels.entry(s.labels().clone()).or_default().push(s);
        }
        for s in remote {
            by_labels
                .entry(s.labels.clone())
                .or_default()
                .push(Box::new(OwnedSeries::new(s)));
        }
        Ok(by_labels
            .into_iter()
            .map(|(labels, mut parts)| {
                if parts.len() == 1 {
                    if let Some(one) = parts.pop() {
                        return one;
                    }
                }
                Box::new(MergedSeries { labels, parts }) as Box<dyn Series + '_>
            })
            .collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut out = self.local.label_values(name, matchers)?;
        // Remote read has no label endpoints; with matchers, the remotes' series are asked for.
        if !matchers.is_empty() {
            for s in self.remotes.read(self.mint, self.maxt, None, matchers) {
                if let Some(v) = s.labels.get(name) {
                    out.push(v.to_string());
                }
            }
            out.sort();
            out.dedup();
        }
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut out = self.local.label_names(matchers)?;
        if !matchers.is_empty() {
            for s in self.remotes.read(self.mint, self.maxt, None, matchers) {
                out.extend(s.labels.iter().map(|l| l.name.to_string()));
            }
            out.sort();
            out.dedup();
        }
        Ok(out)
    }
}

/// A series read from a remote, held in memory.
struct OwnedSeries {
    labels: Labels,
    samples: Vec<(i64, ReadValue)>,
}

impl OwnedSeries {
    fn new(s: ReadSeries) -> Self {
        OwnedSeries {
            labels: s.labels,
            samples: s.samples,
        }
    }
}

impl Series for OwnedSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SeriesIterator + '_> {
        Box::new(OwnedIter {
            samples: &self.samples,
            pos: None,
        })
    }
}

struct OwnedIter<'a> {
    samples: &'a [(i64, ReadValue)],
    pos: Option<usize>,
}

impl OwnedIter<'_> {
    fn current(&self) -> Option<&(i64, ReadValue)> {
        self.pos.and_then(|p| self.samples.get(p))
    }

    fn kind(&self) -> ValueKind {
        match self.current() {
            None => ValueKind::None,
            Some((_, ReadValue::Float(_))) => ValueKind::Float,
            Some((_, ReadValue::Histogram(_))) => ValueKind::Histogram,
        }
    }
}

impl SeriesIterator for OwnedIter<'_> {
    fn next(&mut self) -> ValueKind {
        self.pos = Some(self.pos.map_or(0, |p| (p + 1).min(self.samples.len())));
        self.kind()
    }

    fn seek(&mut self, t: i64) -> ValueKind {
        if self.current().is_some_and(|(st, _)| *st >= t) {
            return self.kind();
        }
        let start = self.pos.unwrap_or(0).min(self.samples.len());
        let rest = self.samples.get(start..).unwrap_or_default();
        self.pos = Some(start + rest.partition_point(|(st, _)| *st < t));
        self.kind()
    }

    fn at(&self) -> (i64, f64) {
        match self.current() {
            Some((t, ReadValue::Float(v))) => (*t, *v),
            Some((t, _)) => (*t, f64::NAN),
            None => (i64::MIN, f64::NAN),
        }
    }

    fn at_histogram(&self) -> (i64, FloatHistogram) {
        match self.current() {
            Some((t, ReadValue::Histogram(h))) => (*t, (**h).clone()),
            Some((t, _)) => (*t, FloatHistogram::default()),
            None => (i64::MIN, FloatHistogram::default()),
        }
    }

    fn at_t(&self) -> i64 {
        self.current().map_or(i64::MIN, |(t, _)| *t)
    }
}

/// Several sources' series with the same labels, read as one.
struct MergedSeries<'a> {
    labels: Labels,
    parts: Vec<Box<dyn Series + 'a>>,
}

impl Series for MergedSeries<'_> {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn iter(&self) -> Box<dyn SeriesIterator + '_> {
        let its: Vec<Box<dyn SeriesIterator + '_>> = self.parts.iter().map(|p| p.iter()).collect();
        let n = its.len();
        Box::new(MergeIter {
            its,
            kinds: vec![ValueKind::None; n],
            cur: None,
            started: false,
        })
    }
}

/// Merges iterators by timestamp; on equal timestamps the earliest source (local) wins and
/// the others' samples at that time are skipped.
struct MergeIter<'a> {
    its: Vec<Box<dyn SeriesIterator + 'a>>,
    kinds: Vec<ValueKind>,
    cur: Option<usize>,
    started: bool,
}

impl MergeIter<'_> {
    fn pick(&mut self) -> ValueKind {
        let mut best: Option<(usize, i64)> = None;
        for (i, (it, k)) in self.its.iter().zip(&self.kinds).enumerate() {
            if *k == ValueKind::None {
                continue;
            }
            let t = it.at_t();
            if best.is_none_or(|(_, bt)| t < bt) {
                best = Some((i, t));
            }
        }
        self.cur = best.map(|(i, _)| i);
        best.and_then(|(i, _)| self.kinds.get(i).copied())
            .unwrap_or(ValueKind::None)
    }

    fn current(&self) -> Option<&(dyn SeriesIterator + '_)> {
        self.cur.and_then(|c| self.its.get(c)).map(|b| &**b)
    }
}

impl SeriesIterator for MergeIter<'_> {
    fn next(&mut self) -> ValueKind {
        if !self.started {
            self.started = true;
            for (it, k) in self.its.iter_mut().zip(self.kinds.iter_mut()) {
                *k = it.next();
            }
            return self.pick();
        }
        let Some(t) = self.current().map(|c| c.at_t()) else {
            return ValueKind::None;
        };
        for (it, k) in self.its.iter_mut().zip(self.kinds.iter_mut()) {
            if *k != ValueKind::None && it.at_t() == t {
                *k = it.next();
            }
        }
        self.pick()
    }

    fn seek(&mut self, t: i64) -> ValueKind {
        if self.started {
            if let (Some(c), Some(k)) = (self.current(), self.cur.and_then(|c| self.kinds.get(c))) {
                if *k != ValueKind::None && c.at_t() >= t {
                    return *k;
                }
            }
        }
        let first = !self.started;
        self.started = true;
        for (it, k) in self.its.iter_mut().zip(self.kinds.iter_mut()) {
            if first || *k != ValueKind::None {
                *k = it.seek(t);
            }
        }
        self.pick()
    }

    fn at(&self) -> (i64, f64) {
        self.current().map_or((i64::MIN, f64::NAN), |c| c.at())
    }

    fn at_histogram(&self) -> (i64, FloatHistogram) {
        self.current()
            .map_or((i64::MIN, FloatHistogram::default()), |c| c.at_histogram())
    }

    fn at_t(&self) -> i64 {
        self.current().map_or(i64::MIN, |c| c.at_t())
    }

    fn error(&self) -> Option<&StorageError> {
        self.its.iter().find_map(|it| it.error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(samples: &[(i64, f64)]) -> Box<dyn Series> {
        Box::new(OwnedSeries {
            labels: Labels::from_pairs([("__name__", "m")]),
            samples: samples
                .iter()
                .map(|(t, v)| (*t, ReadValue::Float(*v)))
                .collect(),
        })
    }

    #[test]
    fn merged_series_dedup_timestamps_keeping_the_first_source() {
        let m = MergedSeries {
            labels: Labels::from_pairs([("__name__", "m")]),
            parts: vec![
                owned(&[(10, 1.0), (30, 3.0)]),
                owned(&[(10, 9.0), (20, 2.0), (40, 4.0)]),
            ],
        };
        let mut it = m.iter();
        let mut got = Vec::new();
        while it.next() == ValueKind::Float {
            got.push(it.at());
        }
        assert_eq!(got, vec![(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0)]);
        let mut it = m.iter();
        assert_eq!(it.seek(25), ValueKind::Float);
        assert_eq!(it.at(), (30, 3.0));
        assert_eq!(it.seek(5), ValueKind::Float);
        assert_eq!(it.at(), (30, 3.0));
        assert_eq!(it.next(), ValueKind::Float);
        assert_eq!(it.at(), (40, 4.0));
        assert_eq!(it.next(), ValueKind::None);
        assert_eq!(it.seek(100), ValueKind::None);
    }

    /// A database in a temporary directory holding `m{job="local"}` at 1000 and 2000 ms.
    fn local_db(dir: &std::path::Path) -> Arc<Db> {
        let (db, _) = Db::open(dir, pharos_tsdb::Options::default()).unwrap();
        let l = Labels::from_pairs([("__name__", "m"), ("job", "local")]);
        let mut app = db.appender();
        app.append(0, &l, 1000, 1.0).unwrap();
        app.append(0, &l, 2000, 2.0).unwrap();
        app.commit().unwrap();
        Arc::new(db)
    }

    /// Remote read entries from YAML, as `prometheus.yml` spells them.
    fn remote_configs(yaml: &str) -> Vec<RemoteReadConfig> {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn start_time_comes_from_storage_and_adds_the_margin() {
        let dir = tempfile::tempdir().unwrap();
        let (empty, _) = Db::open(dir.path(), pharos_tsdb::Options::default()).unwrap();
        assert_eq!(empty.start_time(), None);
        let state = RemoteReadState::new(ReadLimits::default(), 0);
        assert_eq!(state.local_start(&empty), None);
        drop(empty);
        let dir = tempfile::tempdir().unwrap();
        let db = local_db(dir.path());
        assert_eq!(db.start_time(), Some(1000));
        let state = RemoteReadState::new(ReadLimits::default(), 0);
        assert_eq!(state.local_start(&db), Some(1000 + START_TIME_MARGIN_MS));
    }

    #[test]
    fn apply_takes_the_external_labels_even_when_a_client_fails() {
        let state = RemoteReadState::new(ReadLimits::default(), 0);
        let good = remote_configs("- url: http://127.0.0.1:1/api/v1/read\n");
        state
            .apply(&good, Labels::from_pairs([("site", "a")]))
            .unwrap();
        assert_eq!(state.clients().len(), 1);
        let bad = remote_configs(
            "- url: http://127.0.0.1:1/api/v1/read\n  tls_config:\n    ca_file: /nonexistent/ca.pem\n- url: http://127.0.0.1:2/api/v1/read\n",
        );
        let labels = Labels::from_pairs([("site", "b")]);
        assert!(state.apply(&bad, labels.clone()).is_err());
        assert_eq!(state.external_labels(), labels);
        assert_eq!(state.clients().len(), 1, "the old clients stay");
    }

    /// Rule groups query from plain threads: the owned form must send its requests on the
    /// captured runtime, and a remote that cannot be reached leaves the local answer intact.
    #[test]
    fn owned_fanout_answers_from_a_plain_thread_despite_a_dead_remote() {
        let dir = tempfile::tempdir().unwrap();
        let db = local_db(dir.path());
        let dead = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        let remote = Arc::new(RemoteReadState::new(ReadLimits::default(), 0));
        remote
            .apply(
                &remote_configs(&format!(
                    "- url: http://{dead}/api/v1/read\n  read_recent: true\n  remote_timeout: 5s\n"
                )),
                Labels::empty(),
            )
            .unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let storage = OwnedFanoutStorage::new(db, remote, runtime.handle().clone());
        let got = std::thread::spawn(move || {
            let q = storage.querier(0, 3000).unwrap();
            let m = Matcher::new(pharos_model::MatchOp::Equal, "__name__", "m").unwrap();
            let series = q.select(None, &[m]).unwrap();
            series
                .iter()
                .map(|s| {
                    let mut it = s.iter();
                    let mut samples = Vec::new();
                    while it.next() == ValueKind::Float {
                        samples.push(it.at());
                    }
                    (s.labels().get("job").map(str::to_string), samples)
                })
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        assert_eq!(
            got,
            vec![(Some("local".to_string()), vec![(1000, 1.0), (2000, 2.0)])]
        );
    }

    #[test]
    fn owned_iterator_seeks_forward_only() {
        let s = owned(&[(1, 1.0), (5, 5.0)]);
        let mut it = s.iter();
        assert_eq!(it.seek(2), ValueKind::Float);
        assert_eq!(it.at_t(), 5);
        assert_eq!(it.seek(0), ValueKind::Float);
        assert_eq!(it.at_t(), 5);
        assert_eq!(it.next(), ValueKind::None);
    }
}
