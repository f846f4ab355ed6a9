//! One writer per cache key (issue 13): a lock file `<dir>/<key>.lock` that names its holder (pid,
//! host, Slurm job id, what it builds, since when), so that concurrent runs on one cache wait for
//! each other's work and then reuse it instead of training the same model twice.
//!
//! - **Taking it** is atomic: the holder's JSON is written to a temporary file that is hard-linked
//!   to the lock's name, which fails when the lock exists.
//! - **Holding it**, a thread touches the file every [`HEARTBEAT`].
//! - **A stale lock** is one whose holder is gone: on this host, its pid is not running; on another
//!   host (a shared file system), its Slurm job is no longer queued (asked of `squeue` at most every
//!   [`SLURM_ASK_EVERY`], when the holder named a job and squeue answers), or its heartbeat is
//!   older than [`STALE_AFTER`]. A waiter that finds a stale lock says so and takes it over. A live holder is waited for however long it works
//!   (a waiting line every minute says whom for).
//! - **Releasing it** (drop) removes the file when it is still this holder's.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// How often a holder touches its lock.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A lock from another host whose heartbeat is older than this is stale.
pub const STALE_AFTER: Duration = Duration::from_secs(60);
/// How often a waiter asks `squeue` whether another host's holder's job still runs.
pub const SLURM_ASK_EVERY: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(250);

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// `SLURM_JOB_ID` (with `_SLURM_ARRAY_TASK_ID` when in an array), when under Slurm.
    pub job_id: Option<String>,
    /// What it builds (a model's label).
    pub what: String,
    /// Seconds since the Unix epoch when taken.
    pub since_unix: u64,
}

impl Holder {
    fn me(what: &str) -> Self {
        let job_id = std::env::var("SLURM_JOB_ID").ok().map(|j| {
            match std::env::var("SLURM_ARRAY_TASK_ID") {
                Ok(t) => format!("{j}_{t}"),
                Err(_) => j,
            }
        });
        Self {
            pid: std::process::id(),
            host: gahb_denoiser::commit::host_name(),
            job_id,
            what: what.to_string(),
            since_unix: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }

    fn describe(&self) -> String {
        format!(
            "pid {} on {}{} ({})",
            self.pid,
            self.host,
            self.job_id
                .as_ref()
                .map(|j| format!(", Slurm job {j}"))
                .unwrap_or_default(),
            self.what
        )
    }
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct KeyLock {
    path: PathBuf,
    holder: Holder,
    stop: Arc<AtomicBool>,
    beat: Option<std::thread::JoinHandle<()>>,
    /// Stale locks taken over while acquiring it, as lines for the user.
    pub broke: Vec<String>,
}

/// The lock path of `key` in `dir`.
pub fn lock_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.lock"))
}

fn read_holder(path: &Path) -> Option<Holder> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether Slurm says job `id` (`JOB` or `JOB_TASK`) is over: `squeue` lists the jobs that are
/// pending or running, so one it does not list, or calls invalid, is over. `None` when squeue
/// cannot tell (not installed, no controller answering).
pub fn slurm_job_over(id: &str) -> Option<bool> {
    let out = std::process::Command::new("squeue")
        .args(["-h", "-j", id, "-o", "%T"])
        .output()
        .ok()?;
    if out.status.success() {
        let states = String::from_utf8_lossy(&out.stdout);
        let active = [
            "PENDING",
            "RUNNING",
            "CONFIGURING",
            "COMPLETING",
            "SUSPENDED",
            "RESIZING",
            "REQUEUED",
            "REQUEUE_HOLD",
            "REQUEUE_FED",
            "SIGNALING",
            "STAGE_OUT",
            "STOPPED",
        ];
        Some(!states.lines().any(|l| active.contains(&l.trim())))
    } else {
        String::from_utf8_lossy(&out.stderr)
            .contains("Invalid job id")
            .then_some(true)
    }
}

/// Why the lock at `path` held by `holder` is stale, or `None` when its holder may be alive;
/// `ask_slurm` allows a call of `squeue` for another host's holder that named its job.
fn stale_reason(path: &Path, holder: Option<&Holder>, ask_slurm: bool) -> Option<String> {
    let age = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default();
    match holder {
        Some(h) if h.host == gahb_denoiser::commit::host_name() => {
            (!pid_alive(h.pid)).then(|| format!("{} is no longer running", h.describe()))
        }
        Some(
            h @ Holder {
                job_id: Some(job), ..
            },
        ) if ask_slurm && slurm_job_over(job) == Some(true) => {
            Some(format!("{} is no longer in the Slurm queue", h.describe()))
        }
        Some(h) => (age > STALE_AFTER).then(|| {
            format!(
                "{} has not touched it for {:.0} s",
                h.describe(),
                age.as_secs_f64()
            )
        }),
        // Unreadable: a holder between its link and its first write cannot exist (the content
        // is linked in whole), so only a damaged file; give it the heartbeat's grace.
        None => (age > STALE_AFTER).then(|| "the lock file is unreadable".to_string()),
    }
}

impl KeyLock {
    /// Takes the lock of `key` in `dir` for `what`, waiting while a live holder has it and taking
    /// over a stale one. Errors name the lock file (an unwritable folder, for one).
    pub fn acquire(dir: &Path, key: &str, what: &str) -> Result<KeyLock> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = lock_path(dir, key);
        let me = Holder::me(what);
        let mut broke = Vec::new();
        let t0 = Instant::now();
        let mut said: Option<Instant> = None;
        let mut asked: Option<Instant> = None;
        loop {
            if try_link(&path, &me)? {
                return Ok(KeyLock::start(path, me, broke));
            }
            let holder = read_holder(&path);
            let ask = asked.is_none_or(|t| t.elapsed() >= SLURM_ASK_EVERY);
            if ask {
                asked = Some(Instant::now());
            }
            if let Some(why) = stale_reason(&path, holder.as_ref(), ask) {
                if take_over(&path, holder.as_ref()) {
                    let line = format!("stale lock {} taken over: {why}", path.display());
                    eprintln!("  {line}");
                    broke.push(line);
                }
                continue;
            }
            if said.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                eprintln!(
                    "  {what}: waiting for {} to finish it ({:.0} s so far; lock {})",
                    holder
                        .as_ref()
                        .map_or("another process".into(), Holder::describe),
                    t0.elapsed().as_secs_f64(),
                    path.display()
                );
                said = Some(Instant::now());
            }
            std::thread::sleep(POLL);
        }
    }

    fn start(path: PathBuf, holder: Holder, broke: Vec<String>) -> KeyLock {
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s, h) = (path.clone(), stop.clone(), holder.clone());
        let beat = std::thread::Builder::new()
            .name("gahb-lock-heartbeat".into())
            .spawn(move || {
                let mut last = Instant::now();
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(POLL);
                    if last.elapsed() >= HEARTBEAT {
                        last = Instant::now();
                        if read_holder(&p).as_ref() == Some(&h) {
                            let _ = std::fs::File::options()
                                .write(true)
                                .open(&p)
                                .and_then(|f| f.set_modified(SystemTime::now()));
                        }
                    }
                }
            })
            .ok();
        KeyLock {
            path,
            holder,
            stop,
            beat,
            broke,
        }
    }

    /// The lock file.
    #[cfg(test)]
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(b) = self.beat.take() {
            let _ = b.join();
        }
        if read_holder(&self.path).as_ref() == Some(&self.holder) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Creates the lock with `me` in it, atomically; false when it exists.
fn try_link(path: &Path, me: &Holder) -> Result<bool> {
    let tmp = gahb_denoiser::commit::tmp_path(path);
    std::fs::write(&tmp, serde_json::to_vec(me)?).with_context(|| {
        format!(
            "cannot write the lock {}: {}",
            path.display(),
            "is the cache folder writable?"
        )
    })?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("taking the lock {}", path.display())),
    }
}

/// Removes the stale lock at `path` if it still holds `judged` (renamed aside first, so two
/// waiters cannot both remove a fresh lock); true when removed.
fn take_over(path: &Path, judged: Option<&Holder>) -> bool {
    let aside = path.with_extension(format!("lock.stale{}", std::process::id()));
    if std::fs::rename(path, &aside).is_err() {
        return false;
    }
    if read_holder(&aside).as_ref() == judged {
        let _ = std::fs::remove_file(&aside);
        true
    } else {
        // A fresh lock was taken in between: put it back (the link fails if yet another exists).
        let _ = std::fs::hard_link(&aside, path);
        let _ = std::fs::remove_file(&aside);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_waits_until_the_first_releases() {
        let dir = tempfile::tempdir().expect("tmp");
        let first = KeyLock::acquire(dir.path(), "k", "first").expect("first");
        assert_eq!(read_holder(first.path()).expect("holder").what, "first");
        let d = dir.path().to_path_buf();
        let t0 = Instant::now();
        let waiter = std::thread::spawn(move || {
            let l = KeyLock::acquire(&d, "k", "second").expect("second");
            (t0.elapsed(), read_holder(l.path()).map(|h| h.what))
        });
        std::thread::sleep(Duration::from_millis(800));
        drop(first);
        let (waited, what) = waiter.join().expect("join");
        assert!(waited >= Duration::from_millis(700), "{waited:?}");
        assert_eq!(what.as_deref(), Some("second"));
        assert!(!lock_path(dir.path(), "k").exists(), "released on drop");
    }

    #[test]
    fn a_lock_of_a_dead_process_is_taken_over_and_said() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = lock_path(dir.path(), "k");
        // A pid above the kernel's maximum is never running.
        let dead = Holder {
            pid: 4_194_305,
            ..Holder::me("killed run")
        };
        std::fs::write(&path, serde_json::to_vec(&dead).expect("json")).expect("write");
        let l = KeyLock::acquire(dir.path(), "k", "new").expect("take over");
        assert_eq!(l.broke.len(), 1);
        assert!(l.broke[0].contains("4194305") && l.broke[0].contains("no longer running"));
        assert_eq!(read_holder(&path).expect("holder").what, "new");
    }

    #[test]
    fn a_live_holder_on_another_host_is_stale_only_after_its_heartbeat_stops() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = lock_path(dir.path(), "k");
        let other = Holder {
            host: "some-other-node".into(),
            ..Holder::me("remote")
        };
        std::fs::write(&path, serde_json::to_vec(&other).expect("json")).expect("write");
        assert_eq!(stale_reason(&path, Some(&other), false), None);
        let old = SystemTime::now() - STALE_AFTER - Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(old))
            .expect("age it");
        let why = stale_reason(&path, Some(&other), false).expect("stale");
        assert!(why.contains("some-other-node"), "{why}");
        // This process is alive: its own lock is never stale, however old.
        let me = Holder::me("me");
        assert_eq!(stale_reason(&path, Some(&me), false), None);
    }

    #[test]
    fn an_unwritable_folder_is_an_error_naming_the_lock() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, b"x").expect("write");
        let e = format!(
            "{:#}",
            KeyLock::acquire(&file, "k", "x").expect_err("not a folder")
        );
        assert!(e.contains("not-a-folder"), "{e}");
    }
}
