//! Atomic file writes: every output is written to a temporary name in its folder and renamed into
//! place, so a reader (or a run killed half-way) sees the old file or the new one, never a part.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    // The writer's pid and host: on a shared file system, tasks on several hosts write into one
    // folder, and only the writer's host can tell whether it still runs.
    let tmp = dir.join(format!(
        ".{}.tmp{}@{}",
        name.to_string_lossy(),
        std::process::id(),
        gahb_denoiser::commit::host_name()
    ));
    let written = (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        gahb_denoiser::fault::point("write:before-rename");
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("cannot write {}", path.display()))
}

/// A temporary of another host older than this is left by a dead writer (a write takes seconds).
const FOREIGN_TEMPORARY_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes, under `dir` (and its sub-folders, `depth` levels), the temporaries of
/// [`write_atomic`] (`.<name>.tmp<pid>@<host>`) whose writer is gone: on this host, its pid is not
/// running; on another (a shared file system), it is older than an hour. What a killed run leaves.
/// Returns how many were removed.
pub fn remove_stale_temporaries(dir: &Path, depth: usize) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            if depth > 0 {
                removed += remove_stale_temporaries(&path, depth - 1);
            }
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(writer) = name
            .strip_prefix('.')
            .and_then(|n| n.rsplit_once(".tmp"))
            .map(|(_, w)| w)
        else {
            continue;
        };
        let (pid, host) = writer.split_once('@').unwrap_or((writer, ""));
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let gone = if host.is_empty() || host == gahb_denoiser::commit::host_name() {
            !Path::new(&format!("/proc/{pid}")).exists()
        } else {
            std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > FOREIGN_TEMPORARY_AGE)
        };
        if gone && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    write_atomic(path, text.as_bytes())
}

/// Writes a header and rows as CSV, atomically (cells are written as they are: no commas inside).
pub fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) -> Result<()> {
    write_atomic(path, csv_text(header, rows).as_bytes())
}

/// CSV text (RFC 4180): a field holding a comma, a quote or a line break is quoted, its quotes
/// doubled.
pub fn csv_text(header: &[String], rows: &[Vec<String>]) -> String {
    let field = |f: &String| {
        if f.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", f.replace('"', "\"\""))
        } else {
            f.clone()
        }
    };
    let line = |r: &[String]| r.iter().map(field).collect::<Vec<_>>().join(",");
    let mut s = line(header);
    s.push('\n');
    for r in rows {
        s.push_str(&line(r));
        s.push('\n');
    }
    s
}

/// Creates folder `dir` (given by option `flag`, e.g. `--cache`) and checks that files can be
/// written in it, before any work: a one-line error naming the option and the path otherwise.
pub fn ensure_writable(flag: &str, dir: &Path) -> Result<()> {
    if dir.is_file() {
        anyhow::bail!(
            "{flag} {}: is a file, not a folder: give a folder to write into",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow::anyhow!(
            "{flag} {}: cannot create the folder ({e}): give a folder you can write to",
            dir.display()
        )
    })?;
    let probe = dir.join(format!(".gahb-write-test.{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| {
        anyhow::anyhow!(
            "{flag} {}: cannot write in the folder ({e}): give a folder you can write to",
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_commas_and_quotes_are_quoted() {
        let h = vec!["recipe".to_string(), "gap".to_string()];
        let rows = vec![
            vec!["cosine, lr 3e-3".to_string(), "0.61".to_string()],
            vec!["say \"hi\"".to_string(), "1".to_string()],
        ];
        assert_eq!(
            csv_text(&h, &rows),
            "recipe,gap\n\"cosine, lr 3e-3\",0.61\n\"say \"\"hi\"\"\",1\n"
        );
    }

    #[test]
    fn temporaries_of_dead_writers_go_and_another_hosts_stay_until_old() {
        let dir = tempfile::tempdir().expect("tempdir");
        let me = gahb_denoiser::commit::host_name();
        // A pid above the kernel's maximum never runs.
        let dead_here = dir.path().join(format!(".a.json.tmp4194305@{me}"));
        let legacy = dir.path().join(".b.json.tmp4194305");
        let alive_here = dir
            .path()
            .join(format!(".c.json.tmp{}@{me}", std::process::id()));
        let other = dir.path().join(".d.json.tmp4194305@some-other-node");
        let old_other = dir.path().join(".e.json.tmp4194305@some-other-node");
        for p in [&dead_here, &legacy, &alive_here, &other, &old_other] {
            std::fs::write(p, b"x").expect("write");
        }
        let old = std::time::SystemTime::now() - FOREIGN_TEMPORARY_AGE * 2;
        std::fs::File::options()
            .write(true)
            .open(&old_other)
            .and_then(|f| f.set_modified(old))
            .expect("age it");
        assert_eq!(remove_stale_temporaries(dir.path(), 0), 3);
        assert!(!dead_here.exists() && !legacy.exists() && !old_other.exists());
        assert!(alive_here.exists(), "a running writer's file stays");
        assert!(
            other.exists(),
            "another host's recent file stays: its writer may be running"
        );
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a/b.txt");
        write_atomic(&p, b"one").expect("write");
        write_atomic(&p, b"two").expect("rewrite");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "two");
        let names: Vec<String> = std::fs::read_dir(dir.path().join("a"))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["b.txt".to_string()]);
    }
}
