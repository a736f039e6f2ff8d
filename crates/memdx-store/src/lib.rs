//! memdx-store: the history database written by `memdx record` and read by `memdx history` and
//! `memdx diagnose --db`.
//!
//! - [`sample`] turns what the source layer read (a [`memdx_analyze::Case`], memcg and process scans)
//!   into one [`Sample`]: a list of named numbers. Pure.
//! - [`Store`] writes samples into SQLite (WAL, one transaction per sample, so a `kill -9` at any
//!   moment loses at most the sample being written), thins old samples ([`Store::downsample`]) and
//!   reads series back ([`Store::load`]).
//! - [`trend`] fits series (least squares) and tells steady growth (a leak) from churn; [`findings`]
//!   turns a loaded [`History`] into findings. Both pure.
//!
//! Schema (version 1): `samples(time)` one row per recorded moment; `series(id, kind, name)` the
//! dictionary of what is recorded (`slab.kb`/`kmalloc-128`, `meminfo`/`MemFree`, ...);
//! `points(time, series, value)` the numbers, keyed by time first so appends and age-based deletes
//! touch contiguous pages.

pub mod findings;
pub mod sample;
pub mod trend;

pub use sample::{Point, Sample};

use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Default database path for `memdx record` run as a service.
pub const DEFAULT_DB: &str = "/var/lib/memdx/history.db";

const SCHEMA_VERSION: i64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Sqlite { path: String, source: rusqlite::Error },
    #[error("{path}: schema version {found} is newer than this memdx understands ({SCHEMA_VERSION})")]
    Version { path: String, found: i64 },
    #[error("{path}: {message}")]
    Other { path: String, message: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// How long samples are kept at each resolution. Samples younger than `raw` are all kept; up to
/// `minute` one per minute; up to `retention` one per `coarse` seconds; older ones are deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw: i64,
    pub minute: i64,
    pub coarse_step: i64,
    pub retention: i64,
}

impl Retention {
    /// Raw for 6 h, one a minute for 2 days, one per 10 min up to `retention_s`.
    pub fn with_retention(retention_s: i64) -> Self {
        Retention { raw: 6 * 3600, minute: 48 * 3600, coarse_step: 600, retention: retention_s }
    }
}

impl Default for Retention {
    fn default() -> Self {
        Retention::with_retention(14 * 86400)
    }
}

/// One recorded series: a kind (`slab.kb`, `meminfo`, `proc.rss`, ...), a name within it, and its
/// points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub kind: String,
    pub name: String,
    pub points: Vec<(i64, f64)>,
}

impl Series {
    pub fn last(&self) -> Option<f64> {
        self.points.last().map(|p| p.1)
    }
    pub fn first(&self) -> Option<f64> {
        self.points.first().map(|p| p.1)
    }
}

/// What was loaded from a database: the sample times and the series asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Where it was read from, for evidence.
    pub source: String,
    /// Every sample time in the window, oldest first.
    pub times: Vec<i64>,
    /// Series sorted by (kind, name).
    pub series: Vec<Series>,
}

impl History {
    pub fn get(&self, kind: &str, name: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.kind == kind && s.name == name)
    }
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Series> + 'a {
        self.series.iter().filter(move |s| s.kind == kind)
    }
    pub fn span(&self) -> i64 {
        match (self.times.first(), self.times.last()) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        }
    }
}

/// Which series [`Store::load`] reads.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only samples at or after this unix time.
    pub since: Option<i64>,
    /// Only these kinds (empty: all).
    pub kinds: Vec<String>,
    /// Only series with this exact name (in any of the kinds).
    pub name: Option<String>,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    series_ids: HashMap<(String, String), i64>,
    /// The writer's exclusive lock (`<db>.lock`), held as long as the store is open.
    _lock: Option<std::fs::File>,
    /// Where a damaged database was moved when this one was opened (see [`Store::open`]).
    pub rotated: Option<(PathBuf, String)>,
}

/// The lock file of a database: `<db>.lock`.
fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Takes the writer's exclusive lock on `db` (flock on `<db>.lock`, which names its holder). A
/// second writer gets an error naming the PID and command of the first.
fn lock(db: &Path) -> Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let lp = lock_path(db);
    let other = |message: String| StoreError::Other { path: db.display().to_string(), message };
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&lp)
        .map_err(|e| other(format!("cannot open the lock file {}: {e}", lp.display())))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = f.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(other(format!(
                "another recorder is writing this database ({}); one recorder per database: stop it or use another --db",
                if holder.is_empty() { "holder unknown".to_string() } else { holder.to_string() }
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(other(format!("cannot lock {}: {e}", lp.display())));
        }
    }
    let cmd = std::fs::read("/proc/self/cmdline")
        .map(|c| {
            String::from_utf8_lossy(&c).split('\0').filter(|a| !a.is_empty()).collect::<Vec<_>>().join(" ")
        })
        .unwrap_or_default();
    let _ = f.set_len(0);
    let _ = f.rewind();
    let _ = write!(f, "PID {} `{}`", std::process::id(), cmd.chars().take(200).collect::<String>());
    Ok(f)
}

/// Creates a missing database file empty, 0600 and without following a symlink: the history holds
/// root-only figures (slabinfo, cgroup names). SQLite gives the `-wal` and `-shm` files the
/// database's mode. An existing file is left as it is.
fn create_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Other {
            path: path.display().to_string(),
            message: format!("cannot create: {e}"),
        }),
    }
}

impl Store {
    /// Opens (creating if needed) a database for writing, in WAL mode. Takes the writer's exclusive
    /// lock first (a second recorder on the same database is refused and told who holds it), then
    /// runs `PRAGMA quick_check`: a damaged database (or a file that is not one) is moved aside to
    /// `<db>.damaged-<unix time>` and a new one started; [`Store::rotated`] says so.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Other {
                path: dir.display().to_string(),
                message: format!("cannot create directory: {e}"),
            })?;
        }
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(StoreError::Other {
                path: path.display().to_string(),
                message: "is a symlink: memdx does not follow it (name the database itself)".into(),
            });
        }
        let lock = lock(path)?;
        let mut rotated = None;
        if let Some(problem) = damaged(path) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let mut aside = path.as_os_str().to_owned();
            aside.push(format!(".damaged-{now}"));
            let aside = PathBuf::from(aside);
            std::fs::rename(path, &aside).map_err(|e| StoreError::Other {
                path: path.display().to_string(),
                message: format!("damaged ({problem}) and cannot be moved aside: {e}"),
            })?;
            for ext in ["-wal", "-shm"] {
                let mut from = path.as_os_str().to_owned();
                from.push(ext);
                let mut to = aside.as_os_str().to_owned();
                to.push(ext);
                let _ = std::fs::rename(&from, &to);
            }
            rotated = Some((aside, problem));
        }
        create_private(path)?;
        // A symlink planted at the path is not followed.
        let conn = Connection::open_with_flags(path, OpenFlags::default() | OpenFlags::SQLITE_OPEN_NOFOLLOW)
            .map_err(|e| err(path, e))?;
        let mut s =
            Store { conn, path: path.to_path_buf(), series_ids: HashMap::new(), _lock: Some(lock), rotated };
        s.init()?;
        Ok(s)
    }

    /// Opens an existing database for reading only (a recorder may be writing it at the same time).
    pub fn open_read_only(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(StoreError::Other {
                path: path.display().to_string(),
                message: "no such database (run `memdx record --db PATH` first)".into(),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| err(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| err(path, e))?;
        let s =
            Store { conn, path: path.to_path_buf(), series_ids: HashMap::new(), _lock: None, rotated: None };
        s.check_version()?;
        Ok(s)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn e(&self, e: rusqlite::Error) -> StoreError {
        err(&self.path, e)
    }

    fn init(&mut self) -> Result<()> {
        let c = &self.conn;
        c.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| err(&self.path, e))?;
        // WAL: readers do not block the recorder; synchronous=NORMAL keeps every committed sample
        // across a process kill (the WAL is in the page cache) and the file consistent across a power
        // loss, which may drop the last few samples.
        // The tables are created in one transaction: a recorder killed while creating them leaves
        // all or none (one killed between two CREATEs left `meta` without `samples`).
        c.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             BEGIN;
             CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS samples(time INTEGER PRIMARY KEY);
             CREATE TABLE IF NOT EXISTS series(
                 id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, UNIQUE(kind, name));
             CREATE TABLE IF NOT EXISTS points(
                 time INTEGER NOT NULL, series INTEGER NOT NULL, value NOT NULL,
                 PRIMARY KEY(time, series)) WITHOUT ROWID;
             COMMIT;",
        )
        .map_err(|e| err(&self.path, e))?;
        self.check_version()?;
        self.conn
            .execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', ?1)",
                params![SCHEMA_VERSION.to_string()],
            )
            .map_err(|e| err(&self.path, e))?;
        let mut st =
            self.conn.prepare("SELECT id, kind, name FROM series").map_err(|e| err(&self.path, e))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .map_err(|e| err(&self.path, e))?;
        for row in rows {
            let (id, kind, name) = row.map_err(|e| err(&self.path, e))?;
            self.series_ids.insert((kind, name), id);
        }
        Ok(())
    }

    fn check_version(&self) -> Result<()> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key='schema_version'", [], |r| r.get(0))
            .optional()
            .or_else(|e| match e {
                // A brand-new file opened read-only has no tables yet.
                rusqlite::Error::SqliteFailure(_, Some(ref m)) if m.contains("no such table") => Ok(None),
                e => Err(e),
            })
            .map_err(|e| self.e(e))?;
        if let Some(found) = v.and_then(|v| v.parse::<i64>().ok()) {
            if found > SCHEMA_VERSION {
                return Err(StoreError::Version { path: self.path.display().to_string(), found });
            }
        }
        Ok(())
    }

    /// Writes one sample in one transaction. A sample at a time already recorded is ignored
    /// (returns false).
    pub fn write(&mut self, sample: &Sample) -> Result<bool> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| err(&path, e))?;
        let n = tx
            .execute("INSERT OR IGNORE INTO samples(time) VALUES(?1)", params![sample.time])
            .map_err(|e| err(&path, e))?;
        if n == 0 {
            return Ok(false);
        }
        {
            let mut new_series = tx
                .prepare_cached("INSERT INTO series(kind, name) VALUES(?1, ?2)")
                .map_err(|e| err(&path, e))?;
            let mut ins = tx
                .prepare_cached("INSERT OR REPLACE INTO points(time, series, value) VALUES(?1, ?2, ?3)")
                .map_err(|e| err(&path, e))?;
            for p in &sample.points {
                let key = (p.kind.to_string(), p.name.clone());
                let id = match self.series_ids.get(&key) {
                    Some(id) => *id,
                    None => {
                        new_series.execute(params![p.kind, p.name]).map_err(|e| err(&path, e))?;
                        let id = tx.last_insert_rowid();
                        self.series_ids.insert(key, id);
                        id
                    }
                };
                // Integral values are stored as SQLite integers (a varint, usually 1 to 4 bytes).
                let v = if p.value.fract() == 0.0 && p.value.abs() < 9.0e15 {
                    Value::Integer(p.value as i64)
                } else {
                    Value::Real(p.value)
                };
                ins.execute(params![sample.time, id, v]).map_err(|e| err(&path, e))?;
            }
        }
        if let Err(e) = tx.commit() {
            // The series ids cached during the rolled-back transaction do not exist.
            self.series_ids.clear();
            return Err(err(&path, e));
        }
        Ok(true)
    }

    /// Thins samples older than `ret.raw` (relative to `now`) to one per minute, older than
    /// `ret.minute` to one per `ret.coarse_step`, and deletes those older than `ret.retention`.
    /// The last sample of each bucket is kept, so counters stay monotonic. Returns samples deleted.
    pub fn downsample(&mut self, now: i64, ret: Retention) -> Result<usize> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| err(&path, e))?;
        let mut deleted = 0;
        let cut_ret = now - ret.retention;
        deleted +=
            tx.execute("DELETE FROM samples WHERE time < ?1", params![cut_ret]).map_err(|e| err(&path, e))?;
        for (lower, upper, step) in
            [(cut_ret, now - ret.minute, ret.coarse_step.max(1)), (now - ret.minute, now - ret.raw, 60)]
        {
            if upper <= lower {
                continue;
            }
            deleted += tx
                .execute(
                    "DELETE FROM samples WHERE time >= ?1 AND time < ?2 AND time NOT IN
                       (SELECT MAX(time) FROM samples WHERE time >= ?1 AND time < ?2 GROUP BY time / ?3)",
                    params![lower, upper, step],
                )
                .map_err(|e| err(&path, e))?;
        }
        if deleted > 0 {
            let cut = now - ret.raw;
            tx.execute(
                "DELETE FROM points WHERE time < ?1 AND time NOT IN (SELECT time FROM samples WHERE time < ?1)",
                params![cut],
            )
            .map_err(|e| err(&path, e))?;
            tx.execute("DELETE FROM series WHERE id NOT IN (SELECT DISTINCT series FROM points)", [])
                .map_err(|e| err(&path, e))?;
        }
        tx.commit().map_err(|e| err(&path, e))?;
        if deleted > 0 {
            self.series_ids.clear();
            let mut st = self.conn.prepare("SELECT id, kind, name FROM series").map_err(|e| self.e(e))?;
            let rows: Vec<(i64, String, String)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(|e| err(&path, e))?
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| err(&path, e))?;
            drop(st);
            for (id, k, n) in rows {
                self.series_ids.insert((k, n), id);
            }
        }
        Ok(deleted)
    }

    /// Moves WAL content into the main file (the recorder calls it after downsampling).
    pub fn checkpoint(&self) -> Result<()> {
        self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").map_err(|e| self.e(e))
    }

    /// `PRAGMA integrity_check`: `Ok(())` or the problems SQLite lists.
    pub fn integrity_check(&self) -> Result<()> {
        let mut st = self.conn.prepare("PRAGMA integrity_check").map_err(|e| self.e(e))?;
        let msgs: Vec<String> = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.e(e))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| self.e(e))?;
        if msgs.len() == 1 && msgs[0] == "ok" {
            Ok(())
        } else {
            Err(StoreError::Other { path: self.path.display().to_string(), message: msgs.join("; ") })
        }
    }

    /// False for a database whose recorder was killed before it created its tables (it creates
    /// them in one transaction: all or none are there).
    fn has_tables(&self) -> Result<bool> {
        self.conn
            .query_row("SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name='samples'", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n > 0)
            .map_err(|e| self.e(e))
    }

    /// Number of samples and the first and last sample time (none in a database without tables).
    pub fn summary(&self) -> Result<(u64, Option<i64>, Option<i64>)> {
        if !self.has_tables()? {
            return Ok((0, None, None));
        }
        self.conn
            .query_row("SELECT COUNT(*), MIN(time), MAX(time) FROM samples", [], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
            })
            .map_err(|e| self.e(e))
    }

    /// Names recorded for a kind (e.g. every slab cache), sorted.
    pub fn names(&self, kind: &str) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT name FROM series WHERE kind=?1 ORDER BY name")
            .map_err(|e| self.e(e))?;
        let v = st
            .query_map(params![kind], |r| r.get::<_, String>(0))
            .map_err(|e| self.e(e))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| self.e(e))?;
        Ok(v)
    }

    /// Reads the series selected by `q`.
    pub fn load(&self, q: &Query) -> Result<History> {
        if !self.has_tables()? {
            return Ok(History::default());
        }
        let since = q.since.unwrap_or(i64::MIN);
        let mut times = Vec::new();
        {
            let mut st = self
                .conn
                .prepare("SELECT time FROM samples WHERE time >= ?1 ORDER BY time")
                .map_err(|e| self.e(e))?;
            let rows = st.query_map(params![since], |r| r.get::<_, i64>(0)).map_err(|e| self.e(e))?;
            for t in rows {
                times.push(t.map_err(|e| self.e(e))?);
            }
        }
        let mut wanted: HashMap<i64, usize> = HashMap::new();
        let mut series = Vec::new();
        {
            let mut st = self
                .conn
                .prepare("SELECT id, kind, name FROM series ORDER BY kind, name")
                .map_err(|e| self.e(e))?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
                .map_err(|e| self.e(e))?;
            for row in rows {
                let (id, kind, name) = row.map_err(|e| self.e(e))?;
                if !q.kinds.is_empty() && !q.kinds.contains(&kind) {
                    continue;
                }
                if q.name.as_ref().is_some_and(|n| *n != name) {
                    continue;
                }
                wanted.insert(id, series.len());
                series.push(Series { kind, name, points: Vec::new() });
            }
        }
        if !series.is_empty() {
            let mut st = self
                .conn
                .prepare("SELECT time, series, value FROM points WHERE time >= ?1 ORDER BY time")
                .map_err(|e| self.e(e))?;
            let mut rows = st.query(params![since]).map_err(|e| self.e(e))?;
            while let Some(r) = rows.next().map_err(|e| self.e(e))? {
                let id: i64 = r.get(1).map_err(|e| self.e(e))?;
                let Some(&i) = wanted.get(&id) else { continue };
                let t: i64 = r.get(0).map_err(|e| self.e(e))?;
                let v = match r.get_ref(2).map_err(|e| self.e(e))? {
                    ValueRef::Integer(i) => i as f64,
                    ValueRef::Real(f) => f,
                    _ => continue,
                };
                series[i].points.push((t, v));
            }
        }
        Ok(History { source: self.path.display().to_string(), times, series })
    }

    /// The time of the latest sample, if any.
    pub fn last_time(&self) -> Result<Option<i64>> {
        self.conn.query_row("SELECT MAX(time) FROM samples", [], |r| r.get(0)).map_err(|e| self.e(e))
    }
}

/// What `PRAGMA quick_check` finds wrong with an existing database, `None` when it is sound (or
/// does not exist yet).
fn damaged(path: &Path) -> Option<String> {
    if std::fs::metadata(path).map_or(true, |m| m.len() == 0) {
        return None;
    }
    let conn = match Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE) {
        Ok(c) => c,
        Err(e) => return Some(e.to_string()),
    };
    let _ = conn.busy_timeout(std::time::Duration::from_secs(5));
    let msgs: std::result::Result<Vec<String>, _> = conn
        .prepare("PRAGMA quick_check")
        .and_then(|mut st| st.query_map([], |r| r.get::<_, String>(0))?.collect());
    match msgs {
        Ok(m) if m.len() == 1 && m[0] == "ok" => None,
        Ok(m) => Some(m.into_iter().take(3).collect::<Vec<_>>().join("; ")),
        Err(e) => Some(e.to_string()),
    }
}

fn err(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Sqlite { path: path.display().to_string(), source: e }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: i64, v: f64) -> Sample {
        Sample {
            time: t,
            points: vec![
                Point { kind: "meminfo", name: "MemFree".into(), value: v },
                Point { kind: "psi", name: "memory.some.avg10".into(), value: 0.25 },
            ],
        }
    }

    #[test]
    fn a_database_without_tables_holds_no_samples() {
        // What a recorder killed before creating its tables leaves: a WAL database, no table.
        let dir = std::env::temp_dir().join(format!("memdx-store-notables-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("h.db");
        Connection::open(&db).unwrap().execute_batch("PRAGMA journal_mode=WAL;").unwrap();
        let s = Store::open_read_only(&db).unwrap();
        assert_eq!(s.summary().unwrap(), (0, None, None));
        assert_eq!(s.load(&Query::default()).unwrap(), History::default());
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn write_load_downsample() {
        let dir = std::env::temp_dir().join(format!("memdx-store-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = dir.join("h.db");
        let mut s = Store::open(&db).unwrap();
        let now = 10 * 86400;
        // One sample every 10 s for the last 3 days.
        let start = now - 3 * 86400;
        for i in 0..(3 * 8640) {
            s.write(&sample(start + i * 10, i as f64)).unwrap();
        }
        assert!(!s.write(&sample(start, 1.0)).unwrap(), "duplicate time is ignored");
        let deleted = s.downsample(now, Retention::with_retention(2 * 86400 + 3600)).unwrap();
        let (n, first, last) = s.summary().unwrap();
        assert_eq!(n as usize + deleted, 3 * 8640);
        // 6 h raw (2160) + 42 h at 1/min (2520) + 1 h at 1/10min (6).
        assert_eq!(n, 2160 + 2520 + 6);
        assert!(first.unwrap() >= now - 2 * 86400 - 3600);
        assert_eq!(last, Some(now - 10));
        let h = s.load(&Query { kinds: vec!["meminfo".into()], ..Default::default() }).unwrap();
        assert_eq!(h.series.len(), 1);
        assert_eq!(h.series[0].points.len() as u64, n);
        let p = s.load(&Query { kinds: vec!["psi".into()], ..Default::default() }).unwrap();
        assert_eq!(p.series[0].points[0].1, 0.25);
        // Idempotent.
        assert_eq!(s.downsample(now, Retention::with_retention(2 * 86400 + 3600)).unwrap(), 0);
        s.integrity_check().unwrap();
        drop(s);
        let r = Store::open_read_only(&db).unwrap();
        assert_eq!(r.names("meminfo").unwrap(), vec!["MemFree".to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
