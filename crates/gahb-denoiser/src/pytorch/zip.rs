//! A minimal, read-only zip reader for the container `torch.save` writes (PyTorch ≥ 1.6): every
//! entry stored uncompressed, aligned to 64 bytes, with a CRC-32 that is checked on read.
//!
//! It reads the central directory at the end of the file (zip64 records included, as torch writes
//! them for large files) and hands out entries as byte slices of the file held in memory.
//! It refuses compressed entries (torch never writes them: re-save with `torch.save`), encrypted
//! entries, entries whose bytes lie outside the file, names that are not UTF-8, and entries whose
//! CRC-32 does not match; it never writes or extracts anything to disk.

use std::collections::HashMap;

/// Why an archive was refused (the caller adds the file name).
pub(crate) type ZipResult<T> = std::result::Result<T, String>;

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
/// The zip "stored" compression method (no compression).
const METHOD_STORED: u16 = 0;

/// A zip archive held in memory: entry names and where their bytes are.
#[derive(Debug)]
pub(crate) struct Archive<'a> {
    bytes: &'a [u8],
    /// Entry names in central-directory order.
    names: Vec<String>,
    entries: HashMap<String, Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Offset of the entry's data in the file.
    start: usize,
    len: usize,
    crc32: u32,
}

impl<'a> Archive<'a> {
    /// Parses the central directory of `bytes` (a whole zip file).
    pub(crate) fn parse(bytes: &'a [u8]) -> ZipResult<Self> {
        let r = Reader { bytes };
        let eocd = find_eocd(bytes)?;
        let mut n_entries = u64::from(r.u16(eocd + 10)?);
        let mut cd_size = u64::from(r.u32(eocd + 12)?);
        let mut cd_offset = u64::from(r.u32(eocd + 16)?);
        if n_entries == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
            // Zip64: the locator sits right before the end-of-central-directory record.
            let loc = eocd.checked_sub(20).ok_or("the zip64 locator is missing")?;
            if r.u32(loc)? != ZIP64_LOCATOR_SIG {
                return Err("the zip64 locator is missing".into());
            }
            let z = to_usize(r.u64(loc + 8)?)?;
            if r.u32(z)? != ZIP64_EOCD_SIG {
                return Err("the zip64 end-of-central-directory record is missing".into());
            }
            n_entries = r.u64(z + 32)?;
            cd_size = r.u64(z + 40)?;
            cd_offset = r.u64(z + 48)?;
        }
        let cd_start = to_usize(cd_offset)?;
        let cd_end = cd_start
            .checked_add(to_usize(cd_size)?)
            .filter(|&e| e <= bytes.len())
            .ok_or("the central directory lies outside the file")?;
        // Every central-directory record takes at least 46 bytes, which bounds the entry count.
        if n_entries > (cd_end - cd_start) as u64 / 46 {
            return Err(format!(
                "the central directory claims {n_entries} entries in {cd_size} bytes"
            ));
        }
        let mut names = Vec::new();
        let mut entries = HashMap::new();
        let mut p = cd_start;
        for _ in 0..n_entries {
            if r.u32(p)? != CENTRAL_SIG {
                return Err(format!("bad central-directory record at byte {p}"));
            }
            let flags = r.u16(p + 8)?;
            let method = r.u16(p + 10)?;
            let crc32 = r.u32(p + 16)?;
            let mut comp_size = u64::from(r.u32(p + 20)?);
            let mut size = u64::from(r.u32(p + 24)?);
            let name_len = usize::from(r.u16(p + 28)?);
            let extra_len = usize::from(r.u16(p + 30)?);
            let comment_len = usize::from(r.u16(p + 32)?);
            let mut local = u64::from(r.u32(p + 42)?);
            let name_bytes = r.slice(p + 46, name_len)?;
            let name = std::str::from_utf8(name_bytes)
                .map_err(|_| format!("an entry name at byte {p} is not UTF-8"))?
                .to_string();
            let extra = r.slice(p + 46 + name_len, extra_len)?;
            zip64_sizes(extra, &mut size, &mut comp_size, &mut local)?;
            if flags & 1 != 0 {
                return Err(format!("entry {name} is encrypted"));
            }
            if method != METHOD_STORED {
                return Err(format!(
                    "entry {name} is compressed (zip method {method}); torch.save stores entries \
                     uncompressed: load it in PyTorch and torch.save it again"
                ));
            }
            if comp_size != size {
                return Err(format!(
                    "entry {name} is stored with {comp_size} bytes but claims {size}"
                ));
            }
            let local = to_usize(local)?;
            if r.u32(local)? != LOCAL_SIG {
                return Err(format!("entry {name}: bad local header at byte {local}"));
            }
            let local_name_len = usize::from(r.u16(local + 26)?);
            let local_extra_len = usize::from(r.u16(local + 28)?);
            let start = local + 30 + local_name_len + local_extra_len;
            let len = to_usize(size)?;
            r.slice(start, len)
                .map_err(|_| format!("entry {name}: its {len} bytes lie outside the file"))?;
            if entries
                .insert(name.clone(), Entry { start, len, crc32 })
                .is_some()
            {
                return Err(format!("entry {name} appears twice"));
            }
            names.push(name);
            p += 46 + name_len + extra_len + comment_len;
        }
        Ok(Self {
            bytes,
            names,
            entries,
        })
    }

    /// Entry names in the order of the central directory.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// The bytes of entry `name` (CRC-32 checked), or `None` when there is no such entry.
    pub(crate) fn get(&self, name: &str) -> ZipResult<Option<&'a [u8]>> {
        let Some(e) = self.entries.get(name) else {
            return Ok(None);
        };
        let data = &self.bytes[e.start..e.start + e.len];
        let crc = crc32(data);
        if crc != e.crc32 {
            return Err(format!(
                "entry {name} is corrupted (CRC-32 {crc:08x}, the directory says {:08x})",
                e.crc32
            ));
        }
        Ok(Some(data))
    }
}

/// Whether `bytes` starts like a zip file (a local header or an empty archive).
pub(crate) fn looks_like_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(&LOCAL_SIG.to_le_bytes()) || bytes.starts_with(&EOCD_SIG.to_le_bytes())
}

/// Finds the end-of-central-directory record: the last signature within the final 64 KiB + 22 bytes.
fn find_eocd(bytes: &[u8]) -> ZipResult<usize> {
    if bytes.len() < 22 {
        return Err("too short to be a zip file".into());
    }
    let lowest = bytes.len().saturating_sub(22 + 0xFFFF);
    let sig = EOCD_SIG.to_le_bytes();
    (lowest..=bytes.len() - 22)
        .rev()
        .find(|&i| bytes[i..i + 4] == sig)
        .ok_or_else(|| "no zip end-of-central-directory record".to_string())
}

/// Replaces the 0xFFFFFFFF placeholders by the values of a zip64 extra field (id 1), in its order:
/// size, compressed size, local header offset.
fn zip64_sizes(extra: &[u8], size: &mut u64, comp: &mut u64, local: &mut u64) -> ZipResult<()> {
    let r = Reader { bytes: extra };
    let mut p = 0;
    while p + 4 <= extra.len() {
        let id = r.u16(p)?;
        let len = usize::from(r.u16(p + 2)?);
        if id == 1 {
            let mut q = p + 4;
            for field in [size, comp, local] {
                if *field == 0xFFFF_FFFF {
                    if q + 8 > p + 4 + len {
                        return Err("a zip64 extra field is too short".into());
                    }
                    *field = r.u64(q)?;
                    q += 8;
                }
            }
            return Ok(());
        }
        p += 4 + len;
    }
    Ok(())
}

fn to_usize(v: u64) -> ZipResult<usize> {
    usize::try_from(v).map_err(|_| format!("offset {v} does not fit in memory"))
}

/// Bounds-checked little-endian reads.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn slice(&self, at: usize, len: usize) -> ZipResult<&'a [u8]> {
        at.checked_add(len)
            .and_then(|end| self.bytes.get(at..end))
            .ok_or_else(|| format!("truncated zip: needs bytes {at}..{at}+{len}"))
    }

    fn u16(&self, at: usize) -> ZipResult<u16> {
        let s = self.slice(at, 2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }

    fn u32(&self, at: usize) -> ZipResult<u32> {
        let s = self.slice(at, 4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn u64(&self, at: usize) -> ZipResult<u64> {
        let s = self.slice(at, 8)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(s);
        Ok(u64::from_le_bytes(b))
    }
}

/// CRC-32 (IEEE 802.3, the zip checksum), table driven.
fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c = TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a stored zip with the given entries (what `zipfile` with ZIP_STORED writes).
    fn stored_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in entries {
            let offset = out.len() as u32;
            let crc = crc32(data);
            out.extend_from_slice(&LOCAL_SIG.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            central.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&crc.to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&EOCD_SIG.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn reads_stored_entries_and_detects_corruption() {
        let mut bytes = stored_zip(&[("a/data.pkl", b"hello"), ("a/data/0", b"\x01\x02")]);
        let zip = Archive::parse(&bytes).expect("parse");
        assert_eq!(zip.names(), ["a/data.pkl", "a/data/0"]);
        assert_eq!(zip.get("a/data.pkl").expect("crc"), Some(&b"hello"[..]));
        assert_eq!(zip.get("missing").expect("absent"), None);
        // Flip one data byte: the CRC check names the entry.
        let at = bytes
            .windows(5)
            .position(|w| w == b"hello")
            .expect("data present");
        bytes[at] = b'j';
        let zip = Archive::parse(&bytes).expect("parse");
        let err = zip.get("a/data.pkl").expect_err("corrupted");
        assert!(err.contains("a/data.pkl is corrupted"), "{err}");
    }

    #[test]
    fn refuses_truncated_files() {
        let bytes = stored_zip(&[("a/data.pkl", b"hello")]);
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(Archive::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
