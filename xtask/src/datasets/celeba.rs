//! `cargo xtask datasets check celeba --path DIR`: checks a local CelebA copy against the official
//! `img_align_celeba` release described in `datasets/celeba.toml` (shared DATASETS.md §3; the paper's
//! pipeline is PAPER.md §2).
//!
//! DIR is the `img_align_celeba` folder of JPEGs, or a folder holding it and, optionally, the
//! annotation files and `img_align_celeba.zip`. Upstream publishes no per-image checksums, so each
//! expected name (`000001.jpg` … `202599.jpg`) is looked for, each present file must be non-empty,
//! start with the JPEG signature FF D8 FF and have a 178×218 three-channel frame; anything else in
//! the image folder is an extra file. The annotation files and the zip, where present, are checked
//! against their known MD5s (streamed, with progress every ~10% for large files).
//!
//! [`inspect`] measures (it takes the expected names as a parameter, so tests use five); [`Findings`]
//! renders the report lines and the verdict; [`run`] is the command.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use super::md5::md5_file;
use super::Recipe;

/// How many names a report line lists before "…".
const FIRST_FEW: usize = 5;

/// Files at least this large get MD5 progress lines.
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// Image scans of at least this many present files get progress lines.
const PROGRESS_MIN_IMAGES: usize = 10_000;

/// What a complete copy holds.
#[derive(Clone, Debug)]
pub struct Expected {
    /// The image folder's name (`img_align_celeba`).
    pub folder: String,
    /// The expected image file names, sorted.
    pub names: Vec<String>,
    /// The frame every image must have, when checked.
    pub frame: Option<Frame>,
    /// Optional companion files: (path relative to DIR, MD5).
    pub files: Vec<(String, String)>,
}

/// A JPEG frame header's size and component count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub width: u16,
    pub height: u16,
    pub channels: u8,
}

/// What [`inspect`] found.
#[derive(Clone, Debug, Default)]
pub struct Findings {
    /// The folder the images were read from.
    pub images_dir: PathBuf,
    /// Whether that folder is DIR itself (no `img_align_celeba` inside it).
    pub images_in_dir: bool,
    /// Whether DIR holds `img_align_celeba.zip` but no `img_align_celeba` folder.
    pub unextracted_archive: bool,
    /// How many names were expected.
    pub n_expected: usize,
    /// How many of them are present.
    pub n_present: usize,
    /// The first name and the last one expected.
    pub range: Option<(String, String)>,
    /// Expected names that are absent, in order.
    pub missing: Vec<String>,
    /// Entries of the image folder that are not expected names (folders end in `/`), sorted.
    pub extra: Vec<String>,
    /// Present images without the FF D8 FF signature.
    pub not_jpeg: Vec<String>,
    /// Present images of zero bytes.
    pub empty: Vec<String>,
    /// Present JPEGs whose frame differs from the expected one (`None`: no frame header found).
    pub wrong_frame: Vec<(String, Option<Frame>)>,
    /// The expected frame, when it was checked.
    pub frame: Option<Frame>,
    /// The companion files, in recipe order.
    pub files: Vec<FileFinding>,
}

/// One companion file: its MD5 when present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFinding {
    pub path: String,
    pub want: String,
    pub got: Option<String>,
}

impl FileFinding {
    fn mismatch(&self) -> bool {
        self.got.as_ref().is_some_and(|g| *g != self.want)
    }
}

/// The command: checks `dir` against the recipe, prints the report, and fails on any mismatch.
pub fn run(r: &Recipe, dir: &Path) -> Result<()> {
    let expected = Expected::from_recipe(r)?;
    let mut progress = |line: &str| eprintln!("  {line}");
    let found = inspect(dir, &expected, &mut progress)?;
    let (lines, ok, verdict) = found.render(r.get("name")?, dir, &expected.folder);
    for line in lines {
        println!("{line}");
    }
    if !ok {
        bail!("{verdict}");
    }
    println!("{verdict}");
    Ok(())
}

impl Expected {
    /// The official release, from the recipe's `image_*` keys and `[[files]]` MD5s.
    pub fn from_recipe(r: &Recipe) -> Result<Self> {
        let names = numbered_names(r.get("image_first")?, r.get("image_last")?)
            .with_context(|| format!("{}: image_first / image_last", r.path.display()))?;
        let count = r.get_u64("image_count")?;
        if names.len() as u64 != count {
            bail!(
                "{}: image_first … image_last name {} files, image_count says {count}",
                r.path.display(),
                names.len()
            );
        }
        let out_of_range = |key: &str| format!("{}: {key} is out of range", r.path.display());
        let side = |key: &str| -> Result<u16> {
            u16::try_from(r.get_u64(key)?)
                .ok()
                .filter(|&v| v > 0)
                .with_context(|| out_of_range(key))
        };
        let frame = Frame {
            width: side("image_width")?,
            height: side("image_height")?,
            channels: u8::try_from(r.get_u64("image_channels")?)
                .ok()
                .filter(|&v| v > 0)
                .with_context(|| out_of_range("image_channels"))?,
        };
        let files = r
            .files
            .iter()
            .map(|f| {
                f.md5
                    .clone()
                    .map(|m| (f.path.clone(), m))
                    .with_context(|| format!("{}: {} needs an md5", r.path.display(), f.path))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            folder: r.get("image_folder")?.to_string(),
            names,
            frame: Some(frame),
            files,
        })
    }
}

/// `000001.jpg`, `202599.jpg` → every name between, zero-padded to the same width.
fn numbered_names(first: &str, last: &str) -> Result<Vec<String>> {
    let split = |s: &str| -> Result<(u64, usize, String)> {
        let n_digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let number = s[..n_digits]
            .parse()
            .with_context(|| format!("{s:?} does not start with a number"))?;
        Ok((number, n_digits, s[n_digits..].to_string()))
    };
    let (a, width, ext) = split(first)?;
    let (b, width_b, ext_b) = split(last)?;
    if width != width_b || ext != ext_b || a > b {
        bail!("{first:?} and {last:?} are not the two ends of one numbered range");
    }
    Ok((a..=b).map(|i| format!("{i:0width$}{ext}")).collect())
}

/// Checks `dir` against `expected`; `progress` receives progress lines for long reads.
///
/// Errors (a missing DIR, an unreadable file) are one line that names the path.
pub fn inspect(
    dir: &Path,
    expected: &Expected,
    progress: &mut dyn FnMut(&str),
) -> Result<Findings> {
    let meta = std::fs::metadata(dir).map_err(|e| anyhow!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        bail!("{}: not a folder", dir.display());
    }
    let nested = dir.join(&expected.folder);
    let images_in_dir = !nested.is_dir();
    let images_dir = if images_in_dir {
        dir.to_path_buf()
    } else {
        nested
    };

    // List the image folder once: expected names present, everything else extra.
    let wanted: HashSet<&str> = expected.names.iter().map(String::as_str).collect();
    let companions: HashSet<&str> = expected.files.iter().map(|(p, _)| p.as_str()).collect();
    let mut present: HashSet<String> = HashSet::new();
    let mut extra = Vec::new();
    let entries = std::fs::read_dir(&images_dir)
        .map_err(|e| anyhow!("cannot list {}: {e}", images_dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| anyhow!("cannot list {}: {e}", images_dir.display()))?;
        let path = entry.path();
        let is_dir = std::fs::metadata(&path)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?
            .is_dir();
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_dir {
            if !(images_in_dir && name == expected.folder) {
                extra.push(format!("{name}/"));
            }
        } else if wanted.contains(name.as_str()) {
            present.insert(name);
        } else if !(images_in_dir && companions.contains(name.as_str())) {
            extra.push(name);
        }
    }
    extra.sort();

    // Read the head of every present image, in name order.
    let mut found = Findings {
        images_dir: images_dir.clone(),
        images_in_dir,
        unextracted_archive: images_in_dir
            && dir.join(format!("{}.zip", expected.folder)).is_file(),
        n_expected: expected.names.len(),
        n_present: present.len(),
        range: expected
            .names
            .first()
            .zip(expected.names.last())
            .map(|(a, b)| (a.clone(), b.clone())),
        extra,
        frame: expected.frame,
        ..Findings::default()
    };
    let show_progress = present.len() >= PROGRESS_MIN_IMAGES;
    let mut tenths = Tenths::default();
    for (i, name) in expected.names.iter().enumerate() {
        if !present.contains(name) {
            found.missing.push(name.clone());
        } else {
            let path = images_dir.join(name);
            let file =
                File::open(&path).map_err(|e| anyhow!("cannot open {}: {e}", path.display()))?;
            let head = read_head(&mut BufReader::with_capacity(4096, file))
                .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
            match head {
                Head::Empty => found.empty.push(name.clone()),
                Head::NotJpeg => found.not_jpeg.push(name.clone()),
                Head::Jpeg(frame) => {
                    if expected.frame.is_some() && frame != expected.frame {
                        found.wrong_frame.push((name.clone(), frame));
                    }
                }
            }
        }
        if let Some(pct) = tenths.tick(i as u64 + 1, expected.names.len() as u64) {
            if show_progress {
                progress(&format!(
                    "images: {pct}% ({} of {} names checked)",
                    thousands(i as u64 + 1),
                    thousands(expected.names.len() as u64)
                ));
            }
        }
    }

    // The companion files, where present.
    for (rel, want) in &expected.files {
        let path = dir.join(rel);
        let got = if path.is_file() {
            let mut tenths = Tenths::default();
            let mut on_read = |done: u64, total: u64| {
                if let Some(pct) = tenths.tick(done, total) {
                    if total >= PROGRESS_MIN_BYTES {
                        progress(&format!(
                            "md5 {rel}: {pct}% ({} of {} MiB)",
                            thousands(done >> 20),
                            thousands(total >> 20)
                        ));
                    }
                }
            };
            Some(md5_file(&path, &mut on_read)?)
        } else {
            None
        };
        found.files.push(FileFinding {
            path: rel.clone(),
            want: want.clone(),
            got,
        });
    }
    Ok(found)
}

impl Findings {
    /// Whether the copy matches: every name present, nothing extra, every image sound, no MD5
    /// mismatch (absent companion files are fine).
    pub fn ok(&self) -> bool {
        self.n_present == self.n_expected
            && self.missing.is_empty()
            && self.extra.is_empty()
            && self.not_jpeg.is_empty()
            && self.empty.is_empty()
            && self.wrong_frame.is_empty()
            && !self.files.iter().any(FileFinding::mismatch)
    }

    /// The report lines, whether the copy matches, and the verdict line.
    pub fn render(&self, name: &str, dir: &Path, folder: &str) -> (Vec<String>, bool, String) {
        let mut lines = Vec::new();
        lines.push(format!(
            "{name}: images read from {}",
            self.images_dir.display()
        ));
        let range = self
            .range
            .as_ref()
            .map(|(a, b)| format!(" ({a} … {b})"))
            .unwrap_or_default();
        lines.push(format!(
            "present: {} of {} expected names{range}",
            thousands(self.n_present as u64),
            thousands(self.n_expected as u64)
        ));
        if self.n_present == 0 && self.images_in_dir {
            lines.push(format!(
                "note: {} has no {folder} folder and none of the expected images{}",
                dir.display(),
                if self.unextracted_archive {
                    format!(" (unzip {folder}.zip there)")
                } else {
                    String::new()
                }
            ));
        }
        lines.push(listed("missing", &self.missing));
        lines.push(listed("extra files", &self.extra));
        lines.push(listed("not JPEG (no FF D8 FF signature)", &self.not_jpeg));
        lines.push(listed("empty", &self.empty));
        if let Some(want) = self.frame {
            let wrong: Vec<String> = self
                .wrong_frame
                .iter()
                .map(|(n, f)| match f {
                    Some(f) => format!("{n} is {}", show_frame(*f)),
                    None => format!("{n} has no frame header"),
                })
                .collect();
            lines.push(listed(&format!("not {}", show_frame(want)), &wrong));
        }
        let mut absent = Vec::new();
        for f in &self.files {
            match &f.got {
                None => absent.push(f.path.clone()),
                Some(got) if *got == f.want => lines.push(format!("md5 {}: ok ({got})", f.path)),
                Some(got) => lines.push(format!(
                    "md5 {}: MISMATCH: found {got}, official {}",
                    f.path, f.want
                )),
            }
        }
        if !absent.is_empty() {
            lines.push(format!(
                "not in {} (optional): {}",
                dir.display(),
                absent.join(", ")
            ));
        }

        let ok = self.ok();
        let verdict = if ok {
            format!(
                "{name} at {} matches the official {folder} release ({} images)",
                dir.display(),
                thousands(self.n_expected as u64)
            )
        } else {
            let mut why = Vec::new();
            let mut count = |n: usize, what: &str| {
                if n > 0 {
                    why.push(format!("{} {what}", thousands(n as u64)));
                }
            };
            count(self.missing.len(), "missing");
            count(self.extra.len(), "extra");
            count(self.not_jpeg.len(), "not JPEG");
            count(self.empty.len(), "empty");
            count(self.wrong_frame.len(), "with the wrong frame");
            let bad: Vec<&str> = self
                .files
                .iter()
                .filter(|f| f.mismatch())
                .map(|f| f.path.as_str())
                .collect();
            if !bad.is_empty() {
                why.push(format!("MD5 MISMATCH for {}", bad.join(", ")));
            }
            format!(
                "{name} at {} does not match the official {folder} release ({} images): {}",
                dir.display(),
                thousands(self.n_expected as u64),
                why.join(", ")
            )
        };
        (lines, ok, verdict)
    }
}

/// `label: none`, or `label: N (a, b, c, d, e, …)`.
fn listed(label: &str, items: &[String]) -> String {
    if items.is_empty() {
        return format!("{label}: none");
    }
    let mut shown = items[..items.len().min(FIRST_FEW)].join(", ");
    if items.len() > FIRST_FEW {
        shown.push_str(", …");
    }
    format!("{label}: {} ({shown})", thousands(items.len() as u64))
}

fn show_frame(f: Frame) -> String {
    format!("{}×{}×{}", f.width, f.height, f.channels)
}

/// `202599` → `202,599`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Yields 10, 20, … 100 (percent) once each as `done / total` passes them.
#[derive(Debug, Default)]
struct Tenths {
    reported: u64,
}

impl Tenths {
    fn tick(&mut self, done: u64, total: u64) -> Option<u64> {
        if total == 0 {
            return None;
        }
        let tenth = (done.min(total) * 10 / total).min(10);
        (tenth > self.reported).then(|| {
            self.reported = tenth;
            tenth * 10
        })
    }
}

/// The start of a file, as far as the check needs it.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    Empty,
    NotJpeg,
    /// A JPEG signature, and the frame header when one comes before the scan data.
    Jpeg(Option<Frame>),
}

/// Reads the signature and walks the marker segments up to the first frame header (SOFn).
fn read_head(r: &mut impl Read) -> io::Result<Head> {
    let mut magic = [0u8; 3];
    let n = read_full(r, &mut magic)?;
    if n == 0 {
        return Ok(Head::Empty);
    }
    if n < 3 || magic != [0xFF, 0xD8, 0xFF] {
        return Ok(Head::NotJpeg);
    }
    match frame_after_soi(r) {
        Ok(f) => Ok(Head::Jpeg(f)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Head::Jpeg(None)),
        Err(e) => Err(e),
    }
}

/// After `FF D8 FF`: the first SOFn's size and components, `None` when scan data or the end comes
/// first. Markers without a length (TEM, RSTn) are stepped over; fill bytes `FF` are skipped.
fn frame_after_soi(r: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut byte = [0u8; 1];
    let mut marker_started = true; // the signature's third byte is a marker's FF
    loop {
        if !marker_started {
            r.read_exact(&mut byte)?;
            if byte[0] != 0xFF {
                return Ok(None);
            }
        }
        marker_started = false;
        r.read_exact(&mut byte)?;
        while byte[0] == 0xFF {
            r.read_exact(&mut byte)?;
        }
        let marker = byte[0];
        match marker {
            0x01 | 0xD0..=0xD7 => continue,
            0xD9 | 0xDA => return Ok(None),
            _ => {}
        }
        let mut len = [0u8; 2];
        r.read_exact(&mut len)?;
        let len = u16::from_be_bytes(len);
        if len < 2 {
            return Ok(None);
        }
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            let mut sof = [0u8; 6];
            r.read_exact(&mut sof)?;
            return Ok(Some(Frame {
                height: u16::from_be_bytes([sof[1], sof[2]]),
                width: u16::from_be_bytes([sof[3], sof[4]]),
                channels: sof[5],
            }));
        }
        let skip = u64::from(len - 2);
        if io::copy(&mut r.by_ref().take(skip), &mut io::sink())? < skip {
            return Ok(None);
        }
    }
}

/// Reads until `buf` is full or the end; returns how many bytes came.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const FRAME: Frame = Frame {
        width: 178,
        height: 218,
        channels: 3,
    };

    /// A minimal JPEG head: SOI, a JFIF APP0, a baseline SOF0 of the given size, EOI.
    fn jpeg(width: u16, height: u16, channels: u8) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        v.extend_from_slice(b"JFIF\0");
        v.extend_from_slice(&[1, 2, 0, 0, 1, 0, 1, 0, 0]);
        let sof_len = 8 + 3 * u16::from(channels);
        v.extend_from_slice(&[0xFF, 0xC0]);
        v.extend_from_slice(&sof_len.to_be_bytes());
        v.push(8);
        v.extend_from_slice(&height.to_be_bytes());
        v.extend_from_slice(&width.to_be_bytes());
        v.push(channels);
        for c in 0..channels {
            v.extend_from_slice(&[c + 1, 0x11, 0]);
        }
        v.extend_from_slice(&[0xFF, 0xD9]);
        v
    }

    /// A unique folder under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "xtask-celeba-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("temporary folder");
            Self(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Five expected images and two companion files, one of them with a known MD5 of "abc".
    fn expected() -> Expected {
        Expected {
            folder: "img_align_celeba".into(),
            names: numbered_names("000001.jpg", "000005.jpg").expect("names"),
            frame: Some(FRAME),
            files: vec![
                (
                    "list_eval_partition.txt".into(),
                    "900150983cd24fb0d6963f7d28e17f72".into(),
                ),
                (
                    "identity_CelebA.txt".into(),
                    "d41d8cd98f00b204e9800998ecf8427e".into(),
                ),
            ],
        }
    }

    /// A complete copy: DIR/img_align_celeba/00000{1..5}.jpg and list_eval_partition.txt = "abc".
    fn complete(tag: &str) -> TempDir {
        let t = TempDir::new(tag);
        let images = t.0.join("img_align_celeba");
        std::fs::create_dir_all(&images).expect("image folder");
        for name in &expected().names {
            std::fs::write(images.join(name), jpeg(178, 218, 3)).expect("write image");
        }
        std::fs::write(t.0.join("list_eval_partition.txt"), "abc").expect("write annotation");
        t
    }

    /// Inspects and renders; returns the findings, the report lines and the verdict.
    fn check(dir: &Path) -> (Findings, Vec<String>, bool, String) {
        let found = inspect(dir, &expected(), &mut |_| {}).expect("inspect");
        let (lines, ok, verdict) = found.render("celeba", dir, "img_align_celeba");
        assert_eq!(ok, found.ok());
        (found, lines, ok, verdict)
    }

    #[test]
    fn complete_folder_passes() {
        let t = complete("ok");
        let (found, lines, ok, verdict) = check(&t.0);
        assert!(ok, "{lines:#?}");
        assert_eq!(found.n_present, 5);
        assert!(lines.contains(&"present: 5 of 5 expected names (000001.jpg … 000005.jpg)".into()));
        assert!(lines.contains(
            &"md5 list_eval_partition.txt: ok (900150983cd24fb0d6963f7d28e17f72)".into()
        ));
        assert!(lines.contains(&format!(
            "not in {} (optional): identity_CelebA.txt",
            t.0.display()
        )));
        assert_eq!(
            verdict,
            format!(
                "celeba at {} matches the official img_align_celeba release (5 images)",
                t.0.display()
            )
        );
    }

    /// DIR may be the image folder itself; companion files beside the images are not extras.
    #[test]
    fn image_folder_itself_passes() {
        let t = complete("flat");
        let images = t.0.join("img_align_celeba");
        std::fs::write(images.join("identity_CelebA.txt"), "").expect("write");
        let (found, lines, ok, _) = check(&images);
        assert!(ok, "{lines:#?}");
        assert!(found.images_in_dir);
        assert_eq!(
            found.files[1].got.as_deref(),
            Some(expected().files[1].1.as_str())
        );
    }

    #[test]
    fn missing_file_fails() {
        let t = complete("missing");
        std::fs::remove_file(t.0.join("img_align_celeba/000003.jpg")).expect("remove");
        let (found, lines, ok, verdict) = check(&t.0);
        assert!(!ok);
        assert_eq!(found.missing, vec!["000003.jpg".to_string()]);
        assert!(lines.contains(&"present: 4 of 5 expected names (000001.jpg … 000005.jpg)".into()));
        assert!(
            lines.contains(&"missing: 1 (000003.jpg)".into()),
            "{lines:#?}"
        );
        assert!(
            verdict.ends_with(
                "does not match the official img_align_celeba release (5 images): 1 missing"
            ),
            "{verdict}"
        );
    }

    #[test]
    fn extra_file_fails() {
        let t = complete("extra");
        let images = t.0.join("img_align_celeba");
        std::fs::write(images.join("000006.jpg"), jpeg(178, 218, 3)).expect("write");
        std::fs::create_dir(images.join("thumbs")).expect("mkdir");
        let (found, lines, ok, verdict) = check(&t.0);
        assert!(!ok);
        assert_eq!(
            found.extra,
            vec!["000006.jpg".to_string(), "thumbs/".into()]
        );
        assert!(
            lines.contains(&"extra files: 2 (000006.jpg, thumbs/)".into()),
            "{lines:#?}"
        );
        assert!(verdict.ends_with(": 2 extra"), "{verdict}");
    }

    #[test]
    fn non_jpeg_and_empty_files_fail() {
        let t = complete("bad");
        let images = t.0.join("img_align_celeba");
        std::fs::write(images.join("000002.jpg"), b"\x89PNG\r\n\x1a\n").expect("write");
        std::fs::write(images.join("000004.jpg"), b"").expect("write");
        std::fs::write(images.join("000005.jpg"), b"\xFF\xD8").expect("write");
        let (found, lines, ok, verdict) = check(&t.0);
        assert!(!ok);
        assert_eq!(
            found.not_jpeg,
            vec!["000002.jpg".to_string(), "000005.jpg".into()]
        );
        assert_eq!(found.empty, vec!["000004.jpg".to_string()]);
        assert!(
            lines.contains(&"not JPEG (no FF D8 FF signature): 2 (000002.jpg, 000005.jpg)".into()),
            "{lines:#?}"
        );
        assert!(
            lines.contains(&"empty: 1 (000004.jpg)".into()),
            "{lines:#?}"
        );
        assert!(verdict.ends_with(": 2 not JPEG, 1 empty"), "{verdict}");
    }

    #[test]
    fn wrong_frame_fails() {
        let t = complete("frame");
        let images = t.0.join("img_align_celeba");
        std::fs::write(images.join("000001.jpg"), jpeg(80, 80, 1)).expect("write");
        std::fs::write(images.join("000002.jpg"), [0xFF, 0xD8, 0xFF, 0xDA, 0, 2]).expect("write");
        let (found, lines, ok, _) = check(&t.0);
        assert!(!ok);
        assert_eq!(found.wrong_frame.len(), 2);
        assert!(
            lines.contains(
                &"not 178×218×3: 2 (000001.jpg is 80×80×1, 000002.jpg has no frame header)".into()
            ),
            "{lines:#?}"
        );
    }

    #[test]
    fn annotation_with_wrong_content_is_a_mismatch() {
        let t = complete("md5");
        std::fs::write(t.0.join("list_eval_partition.txt"), "abd").expect("write");
        let (_, lines, ok, verdict) = check(&t.0);
        assert!(!ok);
        let want = "md5 list_eval_partition.txt: MISMATCH: found ";
        let line = lines
            .iter()
            .find(|l| l.starts_with(want))
            .expect("a mismatch line");
        assert!(
            line.ends_with(", official 900150983cd24fb0d6963f7d28e17f72"),
            "{line}"
        );
        assert!(
            verdict.ends_with(": MD5 MISMATCH for list_eval_partition.txt"),
            "{verdict}"
        );
    }

    #[test]
    fn missing_dir_is_one_line_naming_it() {
        let t = TempDir::new("gone");
        let gone = t.0.join("nonexistent");
        let err = inspect(&gone, &expected(), &mut |_| {}).expect_err("no folder");
        let msg = format!("{err:#}");
        assert!(msg.contains("nonexistent") && !msg.contains('\n'), "{msg}");
        std::fs::write(&gone, "a file").expect("write");
        let msg = format!(
            "{:#}",
            inspect(&gone, &expected(), &mut |_| {}).expect_err("a file")
        );
        assert!(msg.ends_with("nonexistent: not a folder"), "{msg}");
    }

    /// An empty DIR without the image folder: everything missing, and a note says where to look.
    #[test]
    fn empty_dir_notes_the_missing_folder() {
        let t = TempDir::new("empty");
        std::fs::write(t.0.join("img_align_celeba.zip"), "zip").expect("write");
        let (found, lines, ok, _) = check(&t.0);
        assert!(!ok);
        assert_eq!(found.missing.len(), 5);
        assert!(found.extra == vec!["img_align_celeba.zip".to_string()]);
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("note: ")
                    && l.ends_with("(unzip img_align_celeba.zip there)")),
            "{lines:#?}"
        );
        assert!(lines.contains(
            &"missing: 5 (000001.jpg, 000002.jpg, 000003.jpg, 000004.jpg, 000005.jpg)".into()
        ));
    }

    /// The frame parser on a real encoder's output: the gahb-data CelebA-like fixture (178×218 RGB).
    #[test]
    fn reads_the_frame_of_a_real_jpeg() {
        let p = crate::project_root().join("crates/gahb-data/tests/fixtures/celeba/000001.jpg");
        let bytes = std::fs::read(&p).expect("the gahb-data CelebA fixture");
        assert_eq!(
            read_head(&mut &bytes[..]).expect("head"),
            Head::Jpeg(Some(FRAME))
        );
    }

    #[test]
    fn heads() {
        let head = |b: &[u8]| read_head(&mut &b[..]).expect("head");
        assert_eq!(head(b""), Head::Empty);
        assert_eq!(head(b"\xFF"), Head::NotJpeg);
        assert_eq!(head(b"GIF89a"), Head::NotJpeg);
        assert_eq!(head(&jpeg(178, 218, 3)), Head::Jpeg(Some(FRAME)));
        assert_eq!(head(b"\xFF\xD8\xFF\xE0\x00"), Head::Jpeg(None));
        // Fill bytes and a restart marker before the frame are stepped over.
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xFF, 0xD0, 0xFF];
        v.extend_from_slice(&jpeg(10, 20, 1)[2..]);
        assert_eq!(
            head(&v),
            Head::Jpeg(Some(Frame {
                width: 10,
                height: 20,
                channels: 1
            }))
        );
    }

    #[test]
    fn names_and_numbers() {
        let names = numbered_names("000001.jpg", "202599.jpg").expect("names");
        assert_eq!(names.len(), 202_599);
        assert_eq!(names[0], "000001.jpg");
        assert_eq!(names[9], "000010.jpg");
        assert_eq!(names[202_598], "202599.jpg");
        assert!(numbered_names("1.jpg", "10.jpg").is_err());
        assert!(numbered_names("000002.jpg", "000001.jpg").is_err());
        assert!(numbered_names("000001.jpg", "000002.png").is_err());
        assert!(numbered_names("a.jpg", "b.jpg").is_err());
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(202_599), "202,599");
        assert_eq!(thousands(1_443_490_838), "1,443,490,838");
        assert_eq!(listed("x", &[]), "x: none");
        let many: Vec<String> = (1..=7).map(|i| i.to_string()).collect();
        assert_eq!(listed("x", &many), "x: 7 (1, 2, 3, 4, 5, …)");
    }

    #[test]
    fn progress_every_tenth() {
        let mut t = Tenths::default();
        let got: Vec<u64> = (1..=1000u64).filter_map(|d| t.tick(d, 1000)).collect();
        assert_eq!(got, vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
        let mut t = Tenths::default();
        assert_eq!(t.tick(5, 5), Some(100));
        assert_eq!(t.tick(5, 5), None);
        assert_eq!(Tenths::default().tick(0, 0), None);
    }

    /// The recipe gives the official release: 202,599 names, the 178×218×3 frame, six MD5s.
    #[test]
    fn expected_from_the_recipe() {
        let r = Recipe::load("celeba").expect("recipe");
        let e = Expected::from_recipe(&r).expect("expected");
        assert_eq!(e.names.len(), 202_599);
        assert_eq!(e.frame, Some(FRAME));
        assert_eq!(e.folder, "img_align_celeba");
        assert!(e.files.contains(&(
            "img_align_celeba.zip".into(),
            "00d2c5bc6d35e252742224ab0c1e8fcb".into()
        )));
    }
}
