//! History files of a run (`history.csv` in Keras's CSVLogger layout, `history.json`) and the
//! atomic file writing that every report file goes through.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde_json::{Map, Number, Value};

use crate::error::{Error, Result};
use crate::train::history::History;

/// Name of the CSV history file inside a run directory.
pub const HISTORY_CSV: &str = "history.csv";
/// Name of the JSON history file inside a run directory.
pub const HISTORY_JSON: &str = "history.json";

/// Writes `bytes` to `path` atomically: readers see either the old content or the new one,
/// never a half-written file.
///
/// The bytes go to a temporary file in the same directory (named `.NAME.PID-N.tmp`), which is
/// flushed, fsynced and then renamed over `path`. On any failure the temporary file is removed
/// and [`Error::Write`] naming `path` is returned.
///
/// The temporary file is removed on every way out: an error, a panic, and an exit in the
/// middle of the write where the exiting code calls [`remove_temp_files_in_progress`] first;
/// files left by a process that was killed outright are removed by [`remove_stale_temp_files`].
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = TempFile::next_to(path, "tmp").map_err(|e| Error::write(path, e))?;
    write_synced(tmp.path(), bytes).and_then(|()| tmp.persist(path)).map_err(|e| Error::write(path, e))?;
    sync_parent_dir(path);
    Ok(())
}

/// The temporary files a process is writing, so that they can be removed when it must exit at
/// once; once closed, no new one may be made.
#[derive(Debug, Default)]
pub(crate) struct TempRegistry {
    state: Mutex<(Vec<PathBuf>, bool)>,
}

impl TempRegistry {
    pub(crate) const fn new() -> Self {
        TempRegistry { state: Mutex::new((Vec::new(), false)) }
    }

    fn lock(&self) -> MutexGuard<'_, (Vec<PathBuf>, bool)> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `path` before the file is created; refused once the registry is closed.
    fn add(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        if state.1 {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "the process is exiting"));
        }
        state.0.push(path.to_path_buf());
        Ok(())
    }

    fn forget(&self, path: &Path) {
        self.lock().0.retain(|p| p != path);
    }

    /// Removes every recorded file and closes the registry; returns how many were removed.
    fn close_and_remove_all(&self) -> usize {
        let mut state = self.lock();
        state.1 = true;
        state.0.drain(..).filter(|p| fs::remove_file(p).is_ok()).count()
    }
}

/// The temporary files of this process's atomic writes.
static IN_PROGRESS: TempRegistry = TempRegistry::new();

/// Removes the temporary files that this process's atomic writes have not finished, and makes
/// later atomic writes fail, so that nothing is left behind by a process about to exit in the
/// middle of a write (a second Ctrl-C). Returns how many files were removed.
///
/// Call it from an ordinary thread (it takes a lock, so not from a signal handler), then exit:
/// a write interrupted this way fails with [`Error::Write`].
pub fn remove_temp_files_in_progress() -> usize {
    IN_PROGRESS.close_and_remove_all()
}

/// A temporary file next to its destination: removed when dropped unless it was renamed into
/// place with [`TempFile::persist`], and recorded while it exists (see
/// [`remove_temp_files_in_progress`]).
#[derive(Debug)]
pub(crate) struct TempFile {
    path: PathBuf,
    registry: &'static TempRegistry,
    persisted: bool,
}

impl TempFile {
    /// A fresh name `.NAME.PID-N.SUFFIX` next to `path` (see [`temp_path`]); the file itself is
    /// created by the writer.
    pub(crate) fn next_to(path: &Path, suffix: &str) -> io::Result<Self> {
        Self::in_registry(path, suffix, &IN_PROGRESS)
    }

    pub(crate) fn in_registry(path: &Path, suffix: &str, registry: &'static TempRegistry) -> io::Result<Self> {
        let tmp = temp_path(path, suffix)?;
        registry.add(&tmp)?;
        Ok(TempFile { path: tmp, registry, persisted: false })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the finished file over `dest`.
    pub(crate) fn persist(mut self, dest: &Path) -> io::Result<()> {
        fs::rename(&self.path, dest)?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            // The file may not exist (e.g. the directory is missing); nothing to report.
            let _ = fs::remove_file(&self.path);
        }
        self.registry.forget(&self.path);
    }
}

/// Removes the temporary files (`.NAME.PID-N.tmp`, `.NAME.PID-N.tmp.png`) that atomic writes
/// of processes no longer running left in `dir` (a process killed outright, by SIGKILL or a
/// power cut, cannot clean up). Files of running processes, this one included, are kept, and so
/// is everything else; where it cannot be told whether a process runs (no `/proc`), nothing is
/// removed. Returns the removed paths.
pub fn remove_stale_temp_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let proc_fs = Path::new("/proc/self").exists();
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::read(dir, e))? {
        let entry = entry.map_err(|e| Error::read(dir, e))?;
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_file_pid) else { continue };
        // Only regular files (not followed through symlinks), of processes known to be gone.
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        let alive = !proc_fs || pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists();
        if is_file && !alive {
            let path = entry.path();
            match fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::write(&path, e)),
            }
        }
    }
    removed.sort();
    Ok(removed)
}

/// The process id in a temporary file's name `.NAME.PID-N.tmp` (or `.tmp.png`), or `None` if
/// `name` is not one.
fn temp_file_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let rest = rest.strip_suffix(".tmp").or_else(|| rest.strip_suffix(".tmp.png"))?;
    let (base, id) = rest.rsplit_once('.')?;
    let (pid, n) = id.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if base.is_empty() || !digits(pid) || !digits(n) {
        return None;
    }
    pid.parse().ok()
}

/// A fresh temporary path next to `path`: `.NAME.PID-N.SUFFIX`, unique within this process.
///
/// The suffix matters to writers that pick a format by extension (plotters: `tmp.png`).
pub(crate) fn temp_path(path: &Path, suffix: &str) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name =
        path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file"))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp_name = format!(".{}.{}-{n}.{suffix}", name.to_string_lossy(), std::process::id());
    Ok(parent_dir(path).join(tmp_name))
}

/// Flushes a finished file's content to the disk.
pub(crate) fn sync_file(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Makes a rename inside the parent directory durable; best effort (not possible everywhere).
pub(crate) fn sync_parent_dir(path: &Path) {
    if let Ok(dir) = File::open(parent_dir(path)) {
        let _ = dir.sync_all();
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates `tmp` (which must not exist), writes `bytes`, flushes and fsyncs it.
fn write_synced(tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    file.write_all(bytes)?;
    file.flush()?;
    file.sync_all()
}

/// Whether the history has any validation value (otherwise the `val_*` keys are left out,
/// as Keras does when there is no validation split).
fn has_validation(h: &History) -> bool {
    h.val_loss.iter().chain(&h.val_accuracy).any(|v| !v.is_nan())
}

/// One value as Python's `str(float)` would spell the non-finite ones; finite values use
/// Rust's shortest representation that parses back to the same `f64`.
fn csv_number(v: f64) -> String {
    if v.is_nan() {
        "nan".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{v}")
    }
}

/// The value of epoch `i` in `values`, NaN where the series is shorter.
fn at(values: &[f64], i: usize) -> f64 {
    values.get(i).copied().unwrap_or(f64::NAN)
}

/// The history in Keras's `CSVLogger` layout: header `epoch,accuracy,loss,val_accuracy,val_loss`
/// (keys in sorted order; the `val_*` columns only when there is validation data), then one
/// row per epoch, epochs counted from 0, lines ending in `\n`.
pub fn history_csv(h: &History) -> String {
    let val = has_validation(h);
    let mut out =
        String::from(if val { "epoch,accuracy,loss,val_accuracy,val_loss\n" } else { "epoch,accuracy,loss\n" });
    for i in 0..h.epochs() {
        let mut row = vec![i.to_string(), csv_number(at(&h.accuracy, i)), csv_number(at(&h.loss, i))];
        if val {
            row.push(csv_number(at(&h.val_accuracy, i)));
            row.push(csv_number(at(&h.val_loss, i)));
        }
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// A JSON array of the values, non-finite ones as `null` (JSON has no NaN).
fn json_array(values: &[f64]) -> Value {
    Value::Array(values.iter().map(|&v| Number::from_f64(v).map_or(Value::Null, Value::Number)).collect())
}

/// The history as a pretty-printed JSON object, like Keras's `History.history` plus the epoch
/// times: keys `accuracy`, `epoch_seconds`, `loss`, `train_seconds` (the training batches alone,
/// when recorded), `val_accuracy`, `val_loss` (the `val_*` keys only when there is validation
/// data); NaN and infinities are written as `null`.
pub fn history_json(h: &History) -> String {
    let mut map = Map::new();
    map.insert("loss".into(), json_array(&h.loss));
    map.insert("accuracy".into(), json_array(&h.accuracy));
    if has_validation(h) {
        map.insert("val_loss".into(), json_array(&h.val_loss));
        map.insert("val_accuracy".into(), json_array(&h.val_accuracy));
    }
    map.insert("epoch_seconds".into(), json_array(&h.epoch_seconds));
    if !h.train_seconds.is_empty() {
        map.insert("train_seconds".into(), json_array(&h.train_seconds));
    }
    format!("{:#}\n", Value::Object(map))
}

/// Writes `history.csv` and `history.json` into `dir` (created if missing), each atomically.
pub fn write_history(dir: &Path, h: &History) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    atomic_write(&dir.join(HISTORY_CSV), history_csv(h).as_bytes())?;
    atomic_write(&dir.join(HISTORY_JSON), history_json(h).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::history::EpochMetrics;

    fn history(epochs: usize, validation: bool) -> History {
        let mut h = History::default();
        for e in 0..epochs {
            let x = e as f64;
            h.push(EpochMetrics {
                loss: 0.3 / (x + 1.0) + 1e-7,
                accuracy: 0.9 + 0.01 * x + 1.0 / 3.0 * 1e-3,
                val_loss: validation.then_some(0.08 - 0.001 * x),
                val_accuracy: validation.then_some(0.975 + 0.1 / 7.0 * 1e-2 * x),
                seconds: 12.5 + x,
            });
        }
        h
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn csv_has_keras_header_and_round_trips_numbers() {
        let h = history(3, true);
        let csv = history_csv(&h);
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("epoch,accuracy,loss,val_accuracy,val_loss"));
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), 3);
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.len(), 5);
            assert_eq!(row[0].parse::<usize>().unwrap(), i);
            let num = |k: usize| row[k].parse::<f64>().unwrap();
            assert_eq!(num(1), h.accuracy[i]);
            assert_eq!(num(2), h.loss[i]);
            assert_eq!(num(3), h.val_accuracy[i]);
            assert_eq!(num(4), h.val_loss[i]);
        }
        assert!(csv.ends_with('\n'));
    }

    #[test]
    fn csv_without_validation_omits_val_columns() {
        let h = history(2, false);
        let csv = history_csv(&h);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "epoch,accuracy,loss");
        assert_eq!(lines.len(), 3);
        assert!(lines[1..].iter().all(|l| l.split(',').count() == 3));
        assert!(!csv.contains("nan"));
    }

    #[test]
    fn csv_spells_non_finite_values_like_python() {
        let mut h = history(2, true);
        h.val_loss[0] = f64::NAN;
        h.loss[1] = f64::INFINITY;
        let csv = history_csv(&h);
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[1].ends_with(",nan"), "{}", lines[1]);
        assert_eq!(lines[2].split(',').nth(2), Some("inf"));
    }

    #[test]
    fn empty_history_gives_header_only() {
        let h = History::default();
        assert_eq!(history_csv(&h), "epoch,accuracy,loss\n");
        let v: Value = serde_json::from_str(&history_json(&h)).unwrap();
        assert_eq!(v["loss"], Value::Array(vec![]));
    }

    #[test]
    fn json_parses_and_has_the_keys() {
        let h = history(3, true);
        let v: Value = serde_json::from_str(&history_json(&h)).unwrap();
        for key in ["loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds"] {
            let arr = v[key].as_array().unwrap_or_else(|| panic!("missing {key}"));
            assert_eq!(arr.len(), 3, "{key}");
        }
        // serde_json writes the shortest round-tripping digits, but without its
        // `float_roundtrip` feature its reader may be off by one ulp.
        let close = |a: f64, b: f64| (a - b).abs() <= 2.0 * f64::EPSILON * b.abs();
        for (key, values) in [
            ("loss", &h.loss),
            ("accuracy", &h.accuracy),
            ("val_loss", &h.val_loss),
            ("val_accuracy", &h.val_accuracy),
            ("epoch_seconds", &h.epoch_seconds),
        ] {
            for (i, &want) in values.iter().enumerate() {
                let got = v[key][i].as_f64().unwrap();
                assert!(close(got, want), "{key}[{i}]: {got} != {want}");
            }
        }
        let back: History = serde_json::from_value(v).unwrap();
        assert_eq!(back.epochs(), 3);
    }

    #[test]
    fn json_writes_nan_as_null_and_omits_missing_validation() {
        let mut h = history(2, false);
        h.loss[1] = f64::NAN;
        let text = history_json(&h);
        assert!(!text.contains("NaN") && !text.contains("nan"));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(v["loss"][1].is_null());
        assert!(v.get("val_loss").is_none() && v.get("val_accuracy").is_none());
        assert!(v.get("epoch_seconds").is_some());
    }

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        fs::write(&path, "old content, longer than the new one").unwrap();
        atomic_write(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        atomic_write(&path, b"").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"");
        assert_eq!(files_in(dir.path()), ["out.txt"]);
    }

    #[test]
    fn atomic_write_into_missing_directory_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("out.txt");
        let err = atomic_write(&path, b"x").unwrap_err();
        assert!(matches!(&err, Error::Write { path: p, .. } if p == &path), "{err}");
        assert!(!path.exists());
        assert!(files_in(dir.path()).is_empty());
    }

    #[test]
    fn atomic_write_under_a_regular_file_fails_cleanly() {
        // Tests may run as root, where permission bits do not stop writes: a parent that is a
        // regular file does.
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        fs::write(&blocker, "x").unwrap();
        let path = blocker.join("out.txt");
        let err = atomic_write(&path, b"data").unwrap_err();
        assert!(matches!(err, Error::Write { .. }));
        assert!(err.to_string().contains("out.txt"), "{err}");
        assert_eq!(files_in(dir.path()), ["not-a-dir"]);
        assert_eq!(fs::read(&blocker).unwrap(), b"x");
    }

    #[test]
    fn atomic_write_over_a_directory_fails_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub");
        fs::create_dir(&path).unwrap();
        assert!(atomic_write(&path, b"data").is_err());
        assert_eq!(files_in(dir.path()), ["sub"]);
        assert!(path.is_dir());
    }

    #[test]
    fn write_history_writes_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let h = history(4, true);
        write_history(&run, &h).unwrap();
        assert_eq!(files_in(&run), [HISTORY_CSV, HISTORY_JSON]);
        assert_eq!(fs::read_to_string(run.join(HISTORY_CSV)).unwrap(), history_csv(&h));
        let v: Value = serde_json::from_str(&fs::read_to_string(run.join(HISTORY_JSON)).unwrap()).unwrap();
        assert_eq!(v["loss"].as_array().map(Vec::len), Some(4));
    }

    #[test]
    fn a_temp_file_is_removed_when_dropped_unfinished_even_by_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.csv");
        let result = std::panic::catch_unwind(|| {
            let tmp = TempFile::next_to(&dest, "tmp").unwrap();
            fs::write(tmp.path(), b"half").unwrap();
            panic!("a writer failed half-way");
        });
        assert!(result.is_err());
        assert!(files_in(dir.path()).is_empty());
        let tmp = TempFile::next_to(&dest, "tmp").unwrap();
        fs::write(tmp.path(), b"whole").unwrap();
        tmp.persist(&dest).unwrap();
        assert_eq!(files_in(dir.path()), ["out.csv"]);
    }

    #[test]
    fn closing_the_registry_removes_files_in_progress_and_refuses_new_ones() {
        // A registry of this test's own: closing the process-wide one would stop other tests.
        let registry: &'static TempRegistry = Box::leak(Box::new(TempRegistry::new()));
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("history.csv");
        let a = TempFile::in_registry(&dest, "tmp", registry).unwrap();
        let b = TempFile::in_registry(&dest, "tmp", registry).unwrap();
        fs::write(a.path(), b"a").unwrap();
        fs::write(b.path(), b"b").unwrap();
        let finished = TempFile::in_registry(&dest, "tmp", registry).unwrap();
        fs::write(finished.path(), b"done").unwrap();
        finished.persist(&dest).unwrap();
        assert_eq!(files_in(dir.path()).len(), 3);
        assert_eq!(registry.close_and_remove_all(), 2);
        assert_eq!(files_in(dir.path()), ["history.csv"]);
        let err = TempFile::in_registry(&dest, "tmp", registry).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        // The writers of a and b then fail to rename and drop their (gone) files quietly.
        assert!(a.persist(&dest).is_err());
        drop(b);
        assert_eq!(fs::read(&dest).unwrap(), b"done");
    }

    #[test]
    fn stale_temp_files_of_dead_processes_are_removed_and_nothing_else() {
        if !Path::new("/proc/self").exists() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        // A process that has exited: its pid is free (until reused, which a test cannot rule
        // out, so the check below is on a pid no kernel hands out: above pid_max's 2^22).
        let dead = 4_194_305 + 17;
        let mine = std::process::id();
        let names = [
            format!(".history.csv.{dead}-0.tmp"),
            format!(".loss.png.{dead}-12.tmp.png"),
            format!(".history.csv.{mine}-3.tmp"),
            "history.csv".to_string(),
            ".hidden".to_string(),
            format!(".x.{dead}-a.tmp"),
            format!("..{dead}-1.tmp"),
        ];
        for n in &names {
            fs::write(dir.path().join(n), "x").unwrap();
        }
        // A directory with a temporary file's name is not touched.
        fs::create_dir(dir.path().join(format!(".dir.{dead}-1.tmp"))).unwrap();
        let removed = remove_stale_temp_files(dir.path()).unwrap();
        let removed: Vec<String> =
            removed.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(removed, [names[0].clone(), names[1].clone()]);
        let mut left = files_in(dir.path());
        left.sort();
        let mut want: Vec<String> = names[2..].to_vec();
        want.push(format!(".dir.{dead}-1.tmp"));
        want.sort();
        assert_eq!(left, want);
        assert!(matches!(remove_stale_temp_files(&dir.path().join("missing")), Err(Error::Read { .. })));
    }

    #[test]
    fn temp_file_names_are_recognised_exactly() {
        assert_eq!(temp_file_pid(".history.csv.123-4.tmp"), Some(123));
        assert_eq!(temp_file_pid(".loss.png.9-0.tmp.png"), Some(9));
        assert_eq!(temp_file_pid(".a.b.c.77-1.tmp"), Some(77));
        for name in ["history.csv.1-2.tmp", ".history.csv.1-2.tmpx", ".h.1.tmp", ".h.-2.tmp", "..1-2.tmp", ".h.1-2"] {
            assert_eq!(temp_file_pid(name), None, "{name}");
        }
        // What temp_path makes is recognised.
        let made = temp_path(Path::new("/r/history.csv"), "tmp").unwrap();
        assert_eq!(temp_file_pid(made.file_name().unwrap().to_str().unwrap()), Some(std::process::id()));
    }

    #[test]
    fn temp_path_is_hidden_unique_and_alongside() {
        let a = temp_path(Path::new("/x/y/loss.png"), "tmp.png").unwrap();
        let b = temp_path(Path::new("/x/y/loss.png"), "tmp.png").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("/x/y")));
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".loss.png.") && name.ends_with(".tmp.png"), "{name}");
        let bare = temp_path(Path::new("h.csv"), "tmp").unwrap();
        assert_eq!(bare.parent(), Some(Path::new(".")));
        assert!(temp_path(Path::new("/"), "tmp").is_err());
    }
}
