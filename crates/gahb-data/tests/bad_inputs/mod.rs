//! The bad-input corpus of issue 13: malformed IDX, PGM and `.npy` files, image folders, sizes and
//! prepared-dataset cache files,
//! each built in memory by the functions of this folder (no binary file is committed), with the
//! reader that must refuse it and the substrings its error message must contain.
//!
//! `tests/corpus.rs` writes every case into a fresh temporary folder, runs its reader and checks
//! that it returns an `Err` (not a panic, not a silent `Ok`), that the message is one line naming the
//! file or field and containing the expected text, and that nothing was written.
//! `GAHB_WRITE_BAD_INPUTS=<dir>` also writes the whole corpus under `<dir>`, one folder per case,
//! for trying it on the command line.

mod cache;
mod folders;
mod idx;
mod npy;
mod pgm;
mod sizes;

use std::path::{Path, PathBuf};

/// What a case reader returns: only whether it failed matters.
pub type Outcome = gahb_data::Result<()>;

/// One thing to put in a case's folder, relative to it.
pub enum Entry {
    /// A file with these bytes.
    File(String, Vec<u8>),
    /// An empty folder.
    Dir(String),
    /// A symbolic link to a path that does not exist.
    Dangling(String),
}

/// One bad input.
pub struct Case {
    /// `format/what`, unique; also the case's folder name (with `/` as `__`).
    pub name: String,
    /// What to write before reading.
    pub entries: Vec<Entry>,
    /// The path handed to the reader, relative to the case's folder (may not exist).
    pub target: String,
    /// The reader, called with the target's absolute path.
    pub read: fn(&Path) -> Outcome,
    /// The message must contain this: the file's name or the field's.
    pub names: String,
    /// The message must also contain this.
    pub expect: String,
}

impl Case {
    /// The case's folder under `root`.
    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join(self.name.replace('/', "__"))
    }

    /// Write the entries under `dir` (created).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for e in &self.entries {
            match e {
                Entry::File(name, bytes) => {
                    let p = dir.join(name);
                    if let Some(parent) = p.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::write(p, bytes)?;
                }
                Entry::Dir(name) => std::fs::create_dir_all(dir.join(name))?,
                Entry::Dangling(name) => {
                    std::os::unix::fs::symlink(dir.join("does-not-exist"), dir.join(name))?
                }
            }
        }
        Ok(())
    }
}

/// A case of one file, named in the message, read by `read`.
pub fn one(
    name: &str,
    file: &str,
    bytes: Vec<u8>,
    read: fn(&Path) -> Outcome,
    expect: impl Into<String>,
) -> Case {
    Case {
        name: name.into(),
        entries: vec![Entry::File(file.into(), bytes)],
        target: file.into(),
        read,
        names: file.into(),
        expect: expect.into(),
    }
}

/// A case with several entries; `target` is read and `names` must appear in the message.
pub fn many(
    name: &str,
    entries: Vec<Entry>,
    target: &str,
    read: fn(&Path) -> Outcome,
    names: &str,
    expect: impl Into<String>,
) -> Case {
    Case {
        name: name.into(),
        entries,
        target: target.into(),
        read,
        names: names.into(),
        expect: expect.into(),
    }
}

/// A file entry.
pub fn file(name: &str, bytes: impl Into<Vec<u8>>) -> Entry {
    Entry::File(name.into(), bytes.into())
}

/// Every case, in a fixed order.
pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(idx::cases());
    cases.extend(pgm::cases());
    cases.extend(npy::cases());
    cases.extend(folders::cases());
    cases.extend(sizes::cases());
    cases.extend(cache::cases());
    cases
}
