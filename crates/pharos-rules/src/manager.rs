//! The rule manager: loads rule files, runs each group on its own thread at its aligned
//! times, and swaps groups on reload while keeping the state of unchanged rules.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::context::EvalContext;
use crate::group::{now_ms, Group};
use crate::rule_file::{load_rule_file, RuleFile, RuleFileError};

/// Why rule files could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A `rule_files` pattern is not a valid glob.
    #[error("invalid rule file pattern {pattern:?}: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A rule file is invalid.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    File(Vec<RuleFileError>),
}

/// Expands `rule_files` patterns (already made absolute) into files, in pattern order, each
/// pattern's matches sorted as Go's `filepath.Glob` returns them.
pub fn expand_rule_files(patterns: &[String]) -> Result<Vec<String>, LoadError> {
    let mut files = Vec::new();
    for p in patterns {
        let paths =
            glob::glob(&without_recursive_wildcards(p)).map_err(|e| LoadError::Pattern {
                pattern: p.clone(),
                message: e.to_string(),
            })?;
        let mut matched: Vec<String> = paths
            .filter_map(Result::ok)
            .map(|p| p.display().to_string())
            .collect();
        matched.sort();
        for m in matched {
            if !files.contains(&m) {
                files.push(m);
            }
        }
    }
    Ok(files)
}

/// Go's `filepath.Glob`, which Prometheus uses, has no recursive `**`: any run of stars is one
/// `*` that stays within a path component. Collapsing the runs keeps that meaning, so that
/// `/**/*.yml` does not walk the whole file system and load files Prometheus would not.
fn without_recursive_wildcards(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if c != '*' || !out.ends_with('*') {
            out.push(c);
        }
    }
    out
}

/// Loads and validates every file matched by `patterns`.
pub fn load_rule_files(patterns: &[String]) -> Result<Vec<RuleFile>, LoadError> {
    let mut out = Vec::new();
    for f in expand_rule_files(patterns)? {
        out.push(load_rule_file(std::path::Path::new(&f)).map_err(LoadError::File)?);
    }
    Ok(out)
}

/// A group with the thread that runs it.
struct RunningGroup {
    group: Arc<Group>,
    stop_tx: mpsc::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl RunningGroup {
    /// Stops the thread; with `mark_stale` the group's series get staleness markers.
    fn stop(mut self, mark_stale: bool) -> Arc<Group> {
        let _ = self.stop_tx.send(mark_stale);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.group.clone()
    }
}

/// Runs rule groups (Prometheus's rules.Manager).
pub struct RuleManager {
    ctx: Arc<RwLock<EvalContext>>,
    groups: Mutex<Vec<RunningGroup>>,
    /// Whether the first load happened; groups of later loads need no for-state restore.
    loaded_once: AtomicBool,
}

impl RuleManager {
    /// A manager with no groups.
    pub fn new(ctx: EvalContext) -> RuleManager {
        RuleManager {
            ctx: Arc::new(RwLock::new(ctx)),
            groups: Mutex::new(Vec::new()),
            loaded_once: AtomicBool::new(false),
        }
    }

    /// The context evaluations use.
    pub fn context(&self) -> EvalContext {
        self.ctx.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the context (external labels or URL changed on reload).
    pub fn set_context(&self, ctx: EvalContext) {
        *self.ctx.write().unwrap_or_else(|e| e.into_inner()) = ctx;
    }

    /// Loads the rule files matched by `patterns` and switches to their groups. Unchanged
    /// groups keep running untouched; changed ones take over the state of the group they
    /// replace; removed ones stop and mark their series stale. On error nothing changes.
    pub fn update(
        &self,
        patterns: &[String],
        default_interval_ms: i64,
        default_query_offset_ms: i64,
    ) -> Result<(), LoadError> {
        let files = load_rule_files(patterns)?;
        let restore_pending = !self.loaded_once.swap(true, Ordering::SeqCst);
        let new_groups: Vec<Group> = files
            .into_iter()
            .flat_map(|f| f.groups)
            .map(|spec| {
                Group::new(
                    spec,
                    default_interval_ms,
                    default_query_offset_ms,
                    restore_pending,
                )
            })
            .collect();
        let mut running = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let mut old: Vec<RunningGroup> = std::mem::take(&mut *running);
        for g in new_groups {
            if let Some(i) = old.iter().position(|o| o.group.key() == g.key()) {
                let prev = old.remove(i);
                if prev.group.same_definition(&g) {
                    running.push(prev);
                    continue;
                }
                let prev_group = prev.stop(false);
                g.copy_state_from(&prev_group);
            }
            running.push(self.start(Arc::new(g), restore_pending));
        }
        for removed in old {
            removed.stop(true);
        }
        tracing::info!(groups = running.len(), "rule groups loaded");
        Ok(())
    }

    fn start(&self, group: Arc<Group>, restore: bool) -> RunningGroup {
        let (stop_tx, stop_rx) = mpsc::channel::<bool>();
        let ctx = self.ctx.clone();
        let g = group.clone();
        let thread = std::thread::Builder::new()
            .name(format!("rules-{}", group.name))
            .spawn(move || run_group(&g, &ctx, &stop_rx, restore))
            .ok();
        if thread.is_none() {
            tracing::error!(group = %group.name, "could not start a thread for the rule group");
        }
        RunningGroup {
            group,
            stop_tx,
            thread,
        }
    }

    /// The groups sorted by file, then name (Prometheus's RuleGroups order, which the API
    /// shows).
    pub fn groups(&self) -> Vec<Arc<Group>> {
        let mut groups: Vec<Arc<Group>> = self
            .groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|r| r.group.clone())
            .collect();
        groups.sort_by(|a, b| (&a.file, &a.name).cmp(&(&b.file, &b.name)));
        groups
    }

    /// Stops every group without marking its series stale (they resume after a restart).
    pub fn stop(&self) {
        let running = std::mem::take(&mut *self.groups.lock().unwrap_or_else(|e| e.into_inner()));
        for r in running {
            r.stop(false);
        }
    }
}

impl Drop for RuleManager {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until wall-clock `t_ms`; returns `Some(mark_stale)` when asked to stop first.
fn wait_until(t_ms: i64, stop_rx: &mpsc::Receiver<bool>) -> Option<bool> {
    loop {
        let now = now_ms();
        if now >= t_ms {
            return None;
        }
        let wait = Duration::from_millis(u64::try_from(t_ms - now).unwrap_or(0));
        match stop_rx.recv_timeout(wait) {
            Ok(mark_stale) => return Some(mark_stale),
            Err(RecvTimeoutError::Disconnected) => return Some(false),
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// The next aligned evaluation time after `eval_ts`, skipping the ones already missed.
fn advance(group: &Group, eval_ts: i64) -> i64 {
    let interval = group.interval_ms;
    let next = eval_ts + interval;
    let now = now_ms();
    let missed = if now > next + interval {
        (now - next) / interval
    } else {
        0
    };
    group.add_iterations(1, u64::try_from(missed).unwrap_or(0));
    next + missed * interval
}

/// A group's life: wait for its first aligned time, evaluate every interval (skipping missed
/// ones), and at startup restore alert for-state after the second evaluation, as Prometheus
/// does: by then recording rules the alerts depend on have run on fresh data.
fn run_group(
    group: &Group,
    ctx: &RwLock<EvalContext>,
    stop_rx: &mpsc::Receiver<bool>,
    mut restore: bool,
) {
    let current = || ctx.read().unwrap_or_else(|e| e.into_inner()).clone();
    let mut eval_ts = group.eval_timestamp(now_ms()) + group.interval_ms;
    let mut evaluations = 0u64;
    loop {
        if let Some(mark_stale) = wait_until(eval_ts, stop_rx) {
            if mark_stale {
                group.mark_stale(now_ms(), &current());
            }
            return;
        }
        let c = current();
        group.eval(eval_ts, &c);
        evaluations += 1;
        if restore && evaluations >= 2 {
            group.restore_for_state(now_ms(), &c);
            restore = false;
        }
        eval_ts = advance(group, eval_ts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_promql::{Engine, EngineOptions};
    use pharos_tsdb::MemStorage;

    fn manager() -> RuleManager {
        let store = Arc::new(MemStorage::new());
        RuleManager::new(EvalContext::new(
            Arc::new(Engine::new(EngineOptions::default())),
            store.clone(),
            store,
        ))
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn double_star_matches_one_path_component_as_in_go() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        for f in ["top.yml", "a/one.yml", "a/b/two.yml"] {
            std::fs::write(root.join(f), "").unwrap();
        }
        let pattern = format!("{}/**/*.yml", root.display());
        let got = expand_rule_files(&[pattern]).unwrap();
        assert_eq!(got, vec![format!("{}/a/one.yml", root.display())]);
        // Within a component too: `x**y` is `x*y`, not a pattern error.
        let pattern = format!("{}/a/o**.yml", root.display());
        assert_eq!(expand_rule_files(&[pattern]).unwrap().len(), 1);
    }

    #[test]
    fn reload_keeps_unchanged_groups_and_refuses_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.yml");
        let b = dir.path().join("b.yml");
        std::fs::write(
            &a,
            "groups:\n- name: a\n  rules:\n  - record: r\n    expr: vector(1)\n",
        )
        .unwrap();
        std::fs::write(
            &b,
            "groups:\n- name: b\n  rules:\n  - record: s\n    expr: vector(2)\n",
        )
        .unwrap();
        let pattern = vec![dir.path().join("*.yml").display().to_string()];
        let m = manager();
        m.update(&pattern, HOUR, 0).unwrap();
        let first = m.groups();
        assert_eq!(
            first.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );

        // A broken file fails the update and leaves the running groups alone.
        std::fs::write(
            &b,
            "groups:\n- name: b\n  rules:\n  - record: s\n    expr: sum(\n",
        )
        .unwrap();
        let err = m.update(&pattern, HOUR, 0).unwrap_err().to_string();
        assert!(err.contains("could not parse expression"), "{err}");
        assert!(Arc::ptr_eq(&m.groups()[1], &first[1]));

        // Group a unchanged keeps running as is; group b changed is replaced.
        std::fs::write(
            &b,
            "groups:\n- name: b\n  rules:\n  - record: s\n    expr: vector(3)\n",
        )
        .unwrap();
        m.update(&pattern, HOUR, 0).unwrap();
        let second = m.groups();
        assert!(Arc::ptr_eq(&second[0], &first[0]));
        assert!(!Arc::ptr_eq(&second[1], &first[1]));

        // A changed default interval changes groups that have none of their own.
        m.update(&pattern, HOUR / 2, 0).unwrap();
        assert_eq!(m.groups()[0].interval_ms, HOUR / 2);

        // A pattern that matches nothing removes every group.
        m.update(
            &[dir.path().join("none-*.yml").display().to_string()],
            HOUR,
            0,
        )
        .unwrap();
        assert!(m.groups().is_empty());
        m.stop();
    }

    #[test]
    fn bad_glob_is_an_error() {
        let err = expand_rule_files(&["[".into()]).unwrap_err().to_string();
        assert!(err.contains("invalid rule file pattern"), "{err}");
    }
}
