//! Files committed as one unit (issue 13): a sidecar JSON that names the SHA-256 of each of its
//! parts and carries a seal (the SHA-256 of its own JSON without the seal), written last.
//!
//! # Protocol
//! [`commit`] writes every part to a temporary name in the target folder first. Then, when the
//! unit already there verifies, it is kept as the *previous* unit: each of its files is hard-linked
//! (copied where links are not supported) to `<file>.prev`. Then the parts are renamed into place,
//! the sidecar last, and the previous unit is removed. A kill at any point leaves at least one unit
//! that verifies: before the renames the current one, during them the previous one, after them the
//! new one. [`recover`] finds it: the current unit when it verifies, else the previous one, linked
//! back into place; a unit that fails both ways is removed, and the caller rebuilds it.
//!
//! Verification reads every byte of every part; units here are a few megabytes.
//! Temporaries are named `.<file>.<host>-<pid>.tmp.<ext>` (the extension kept, for writers that
//! pick the format from it); [`remove_temporaries`] clears those of a unit whose writer is known
//! to be gone (the caller holds the unit's lock).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The sidecar field that names the parts: `{ file name: sha256 }`.
pub const PARTS: &str = "parts";
/// The sidecar field that holds its own seal.
pub const SEAL: &str = "seal";

/// What [`recover`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Recovered {
    /// No unit at this path.
    Missing,
    /// The current unit verifies: its sidecar.
    Intact(Value),
    /// The current unit did not verify (`reason`); the previous one did and is in place again.
    Restored {
        /// The previous unit's sidecar, now current.
        sidecar: Value,
        /// Why the current unit was refused.
        reason: String,
    },
    /// Neither unit verified (`reason`); both were removed.
    Discarded {
        /// Why the current unit was refused.
        reason: String,
    },
}

impl Recovered {
    /// The sidecar of a usable unit.
    pub fn sidecar(&self) -> Option<&Value> {
        match self {
            Recovered::Intact(v) | Recovered::Restored { sidecar: v, .. } => Some(v),
            _ => None,
        }
    }

    /// A line for the user when something was repaired or dropped.
    pub fn note(&self, what: &Path) -> Option<String> {
        match self {
            Recovered::Restored { sidecar, reason } => Some(format!(
                "{} was refused ({reason}); the previous good checkpoint{} is used",
                what.display(),
                sidecar
                    .get("step")
                    .and_then(Value::as_u64)
                    .map(|s| format!(" (step {s})"))
                    .unwrap_or_default()
            )),
            Recovered::Discarded { reason } => Some(format!(
                "{} was refused ({reason}) and no good earlier copy exists; it is rebuilt",
                what.display()
            )),
            _ => None,
        }
    }
}

/// This machine's host name (`/proc/sys/kernel/hostname`, then `$HOSTNAME`, else `localhost`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".into())
}

/// The temporary name of `path` for this process: `.<name>.<host>-<pid>.tmp.<ext>`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "part".into());
    let host: String = host_name()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    path.with_file_name(format!(".{name}.{host}-{}.tmp.{ext}", std::process::id()))
}

/// The previous unit's name of a file: `<file>.prev`.
pub fn prev_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".prev");
    PathBuf::from(name)
}

/// SHA-256 (hex) of a file's bytes.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| io_at(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| io_at(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io_at(path: &Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("{}: {e}", path.display()),
    ))
}

/// The seal of a sidecar: SHA-256 of its JSON with the seal field removed.
fn seal_of(sidecar: &Value) -> Result<String> {
    let mut v = sidecar.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove(SEAL);
    }
    Ok(hex(&Sha256::digest(serde_json::to_vec(&v)?)))
}

/// Writes `bytes` to `path` and syncs it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| io_at(path, e))?;
    f.write_all(bytes).map_err(|e| io_at(path, e))?;
    f.sync_all().map_err(|e| io_at(path, e))?;
    Ok(())
}

fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_at(path, e))
}

/// Commits a unit: `parts` are `(temporary, final)` paths of finished files in the sidecar's
/// folder, `sidecar` the final sidecar path and `meta` its JSON object (its [`PARTS`] and [`SEAL`]
/// fields are filled in here). On an error the temporaries are removed and the unit that was there
/// is left as it was.
pub fn commit(sidecar: &Path, meta: Value, parts: &[(PathBuf, PathBuf)]) -> Result<Value> {
    let side_tmp = tmp_path(sidecar);
    let result = commit_inner(sidecar, &side_tmp, meta, parts);
    if result.is_err() {
        for (tmp, _) in parts {
            let _ = std::fs::remove_file(tmp);
        }
        let _ = std::fs::remove_file(&side_tmp);
    }
    result
}

fn commit_inner(
    sidecar: &Path,
    side_tmp: &Path,
    mut meta: Value,
    parts: &[(PathBuf, PathBuf)],
) -> Result<Value> {
    let mut hashes = serde_json::Map::new();
    for (tmp, fin) in parts {
        if fin.parent() != sidecar.parent() {
            return Err(Error::InvalidConfig {
                field: "parts",
                reason: format!(
                    "{} is not in the sidecar's folder {}",
                    fin.display(),
                    sidecar.parent().unwrap_or(Path::new("")).display()
                ),
            });
        }
        sync_file(tmp)?;
        hashes.insert(file_name(fin), Value::String(sha256_file(tmp)?));
    }
    let Some(obj) = meta.as_object_mut() else {
        return Err(Error::InvalidConfig {
            field: "sidecar",
            reason: "a unit's sidecar must be a JSON object".into(),
        });
    };
    obj.remove(SEAL);
    obj.insert(PARTS.into(), Value::Object(hashes));
    let seal = seal_of(&meta)?;
    if let Some(obj) = meta.as_object_mut() {
        obj.insert(SEAL.into(), Value::String(seal));
    }
    write_synced(side_tmp, &serde_json::to_vec_pretty(&meta)?)?;
    crate::fault::point("commit:parts-written");
    // Keep what is there as the previous unit, when it is good; a torn current unit must not
    // replace a good previous one.
    if let Ok(old) = verify(sidecar, false) {
        keep_previous(sidecar, &old)?;
    }
    for (tmp, fin) in parts {
        std::fs::rename(tmp, fin).map_err(|e| io_at(fin, e))?;
        crate::fault::point("commit:part-renamed");
    }
    std::fs::rename(side_tmp, sidecar).map_err(|e| io_at(sidecar, e))?;
    crate::fault::point("commit:sidecar-renamed");
    if let Some(dir) = sidecar.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    remove_previous(sidecar);
    Ok(meta)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The files of a unit whose sidecar is `meta`: its parts, then the sidecar.
fn unit_files(sidecar: &Path, meta: &Value) -> Vec<PathBuf> {
    let dir = sidecar.parent().unwrap_or(Path::new(""));
    let mut files: Vec<PathBuf> = meta
        .get(PARTS)
        .and_then(Value::as_object)
        .map(|o| o.keys().map(|k| dir.join(k)).collect())
        .unwrap_or_default();
    files.push(sidecar.to_path_buf());
    files
}

/// Links (or copies) `from` to `to` through a temporary and a rename, replacing `to`.
fn link_into(from: &Path, to: &Path) -> Result<()> {
    let tmp = tmp_path(to);
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(from, &tmp).is_err() {
        std::fs::copy(from, &tmp).map_err(|e| io_at(from, e))?;
        sync_file(&tmp)?;
    }
    std::fs::rename(&tmp, to).map_err(|e| io_at(to, e))?;
    // POSIX rename does nothing when both names are links to one file (a part that was never
    // replaced): the temporary name is then still there.
    let _ = std::fs::remove_file(&tmp);
    Ok(())
}

fn keep_previous(sidecar: &Path, current: &Value) -> Result<()> {
    remove_previous(sidecar);
    for f in unit_files(sidecar, current) {
        link_into(&f, &prev_path(&f))?;
    }
    Ok(())
}

/// Removes the previous unit beside `sidecar` (the files its own sidecar names), if any.
fn remove_previous(sidecar: &Path) {
    let prev_side = prev_path(sidecar);
    let names = std::fs::read(&prev_side)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    if let Some(v) = names {
        for f in unit_files(sidecar, &v) {
            let _ = std::fs::remove_file(prev_path(&f));
        }
    }
    let _ = std::fs::remove_file(prev_side);
}

/// Checks the unit at `sidecar` (`previous`: its `.prev` copy): the sidecar parses, its seal holds
/// and every part it names has its hash. Returns the sidecar, or why it is refused.
pub fn verify(sidecar: &Path, previous: bool) -> std::result::Result<Value, String> {
    let at = |p: &Path| {
        if previous {
            prev_path(p)
        } else {
            p.to_path_buf()
        }
    };
    let side = at(sidecar);
    let bytes = match std::fs::read(&side) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("{} is missing", file_name(&side)))
        }
        Err(e) => return Err(format!("{} cannot be read: {e}", file_name(&side))),
    };
    let meta: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not valid JSON: {e}", file_name(&side)))?;
    let Some(seal) = meta.get(SEAL).and_then(Value::as_str) else {
        return Err(format!(
            "{} has no seal (written by an older gahb, or not a gahb checkpoint)",
            file_name(&side)
        ));
    };
    let want = seal_of(&meta).map_err(|e| e.to_string())?;
    if seal != want {
        return Err(format!(
            "{} was modified after it was written (seal mismatch)",
            file_name(&side)
        ));
    }
    let dir = sidecar.parent().unwrap_or(Path::new(""));
    let parts = meta
        .get(PARTS)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{} names no parts", file_name(&side)))?;
    for (name, hash) in parts {
        let p = at(&dir.join(name));
        let got = match sha256_file(&p) {
            Ok(h) => h,
            Err(_) => return Err(format!("{} is missing or unreadable", file_name(&p))),
        };
        if Some(got.as_str()) != hash.as_str() {
            return Err(format!(
                "{} does not match the hash its sidecar names (torn write or corruption)",
                file_name(&p)
            ));
        }
    }
    Ok(meta)
}

/// Finds the usable unit at `sidecar` (see the module doc): the current one, else the previous
/// one linked back into place, else nothing (both removed).
pub fn recover(sidecar: &Path) -> Result<Recovered> {
    let reason = match verify(sidecar, false) {
        Ok(meta) => {
            remove_previous(sidecar);
            return Ok(Recovered::Intact(meta));
        }
        Err(reason) => reason,
    };
    let current_exists = sidecar.exists();
    match verify(sidecar, true) {
        Ok(prev) => {
            // Link the previous unit back, parts first and the sidecar last; it stays as the
            // previous unit until the current one verifies.
            for f in unit_files(sidecar, &prev) {
                link_into(&prev_path(&f), &f)?;
            }
            if verify(sidecar, false).is_ok() {
                remove_previous(sidecar);
            }
            Ok(Recovered::Restored {
                sidecar: prev,
                reason,
            })
        }
        Err(_) if !current_exists && !prev_path(sidecar).exists() => Ok(Recovered::Missing),
        Err(_) => {
            discard(sidecar, &[]);
            Ok(Recovered::Discarded { reason })
        }
    }
}

/// Removes the unit at `sidecar` (the parts its sidecar names, `extra` files, and the previous
/// unit).
pub fn discard(sidecar: &Path, extra: &[PathBuf]) {
    remove_previous(sidecar);
    if let Some(v) = std::fs::read(sidecar)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        for f in unit_files(sidecar, &v) {
            let _ = std::fs::remove_file(f);
        }
    }
    for f in extra {
        let _ = std::fs::remove_file(f);
        let _ = std::fs::remove_file(prev_path(f));
    }
    let _ = std::fs::remove_file(sidecar);
}

/// Removes, in `dir`, the temporaries of the files whose names start with `stem`: this module's
/// (`.<stem>….tmp.<ext>`) and the older `<stem>….tmp<pid>` form. Call it only while no other
/// process can be writing them (under the unit's lock). Returns how many were removed.
pub fn remove_temporaries(dir: &Path, stem: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let bare = name.strip_prefix('.').unwrap_or(&name);
        if bare.starts_with(stem) && bare.contains(".tmp") && std::fs::remove_file(e.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// The files of the unit at `sidecar`, as [`BTreeMap`] of file name to hash (empty when the
/// sidecar cannot be read).
pub fn part_hashes(sidecar: &Path) -> BTreeMap<String, String> {
    std::fs::read(sidecar)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get(PARTS).cloned())
        .and_then(|p| serde_json::from_value(p).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn part(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, PathBuf) {
        let fin = dir.join(name);
        let tmp = tmp_path(&fin);
        std::fs::write(&tmp, bytes).expect("write");
        (tmp, fin)
    }

    fn save(dir: &Path, step: u64, a: &[u8], b: &[u8]) -> Value {
        let parts = [part(dir, "m.bin", a), part(dir, "m.opt", b)];
        commit(&dir.join("m.json"), json!({ "step": step }), &parts).expect("commit")
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_sidecar_with_floats_that_parse_inexactly_without_float_roundtrip_verifies() {
        // 30.004314422607422 (a loss that `gahb train` recorded) parsed back to another f64
        // with serde_json's default float parser, so the re-serialized sidecar failed its seal.
        let dir = tempfile::tempdir().expect("tmp");
        let side = dir.path().join("m.json");
        let meta = json!({ "last_loss": 30.004314422607422f64, "lr": 3e-3, "eps": 1e-8,
                           "x": 0.1 + 0.2, "y": f64::from(1.0f32 / 3.0) });
        let parts = [part(dir.path(), "m.bin", b"w")];
        commit(&side, meta, &parts).expect("commit");
        let v = verify(&side, false).expect("verifies");
        assert_eq!(v["last_loss"].as_f64(), Some(30.004314422607422));
    }

    #[test]
    fn a_committed_unit_verifies_and_leaves_only_its_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let side = dir.path().join("m.json");
        save(dir.path(), 1, b"aaaa", b"bb");
        save(dir.path(), 2, b"cccc", b"dd");
        let v = verify(&side, false).expect("verifies");
        assert_eq!(v["step"], 2);
        assert_eq!(listing(dir.path()), ["m.bin", "m.json", "m.opt"]);
        assert_eq!(recover(&side).expect("recover"), Recovered::Intact(v));
    }

    #[test]
    fn a_flipped_byte_or_an_edited_sidecar_is_refused_and_discarded() {
        let dir = tempfile::tempdir().expect("tmp");
        let side = dir.path().join("m.json");
        save(dir.path(), 1, b"aaaa", b"bb");
        std::fs::write(dir.path().join("m.bin"), b"aaab").expect("flip");
        let e = verify(&side, false).expect_err("flipped");
        assert!(e.contains("m.bin") && e.contains("hash"), "{e}");
        let r = recover(&side).expect("recover");
        assert!(matches!(r, Recovered::Discarded { .. }), "{r:?}");
        assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
        assert_eq!(recover(&side).expect("again"), Recovered::Missing);

        save(dir.path(), 1, b"aaaa", b"bb");
        let text = std::fs::read_to_string(&side).expect("read");
        std::fs::write(&side, text.replace("\"step\": 1", "\"step\": 7")).expect("edit");
        let e = verify(&side, false).expect_err("edited");
        assert!(e.contains("seal"), "{e}");
    }

    #[test]
    fn a_save_killed_between_its_renames_falls_back_to_the_previous_unit() {
        let dir = tempfile::tempdir().expect("tmp");
        let side = dir.path().join("m.json");
        save(dir.path(), 1, b"aaaa", b"bb");
        // The steps of commit for step 2, stopped after the first part's rename.
        let old = verify(&side, false).expect("good");
        keep_previous(&side, &old).expect("keep");
        let (tmp, fin) = part(dir.path(), "m.bin", b"cccc");
        std::fs::rename(&tmp, &fin).expect("rename");
        assert!(verify(&side, false).is_err());
        let r = recover(&side).expect("recover");
        let Recovered::Restored { sidecar, reason } = &r else {
            panic!("expected the previous unit, got {r:?}");
        };
        assert_eq!(sidecar["step"], 1);
        assert!(reason.contains("m.bin"), "{reason}");
        assert!(r.note(&side).expect("note").contains("step 1"));
        assert_eq!(verify(&side, false).expect("restored")["step"], 1);
        assert_eq!(std::fs::read(&fin).expect("bin"), b"aaaa");
        assert_eq!(listing(dir.path()), ["m.bin", "m.json", "m.opt"]);
    }

    #[test]
    fn a_torn_current_unit_never_replaces_a_good_previous_one() {
        let dir = tempfile::tempdir().expect("tmp");
        let side = dir.path().join("m.json");
        save(dir.path(), 1, b"aaaa", b"bb");
        let old = verify(&side, false).expect("good");
        keep_previous(&side, &old).expect("keep");
        std::fs::write(dir.path().join("m.opt"), b"torn").expect("tear");
        // A new save now must keep the good previous unit while the current one is torn.
        save(dir.path(), 3, b"eeee", b"ff");
        assert_eq!(verify(&side, false).expect("new")["step"], 3);
        assert_eq!(listing(dir.path()), ["m.bin", "m.json", "m.opt"]);
    }

    #[test]
    fn temporaries_of_a_stem_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        for n in [
            ".abc.safetensors.host-12.tmp.safetensors",
            "abc.json.tmp345",
            "abc.safetensors",
            ".other.json.host-1.tmp.json",
        ] {
            std::fs::write(dir.path().join(n), b"x").expect("write");
        }
        assert_eq!(remove_temporaries(dir.path(), "abc"), 2);
        assert_eq!(
            listing(dir.path()),
            [".other.json.host-1.tmp.json", "abc.safetensors"]
        );
    }
}
