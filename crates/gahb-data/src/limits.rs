//! Memory bounds (issue 13): sizes that come from a user are checked against the machine's memory
//! before anything is allocated, so a huge value is a one-line error with the bytes it would need,
//! never an aborted process.

use crate::error::{Error, Result};

/// The memory assumed when `/proc/meminfo` cannot be read (16 GiB).
pub const FALLBACK_MEMORY_BYTES: u64 = 16 << 30;

/// The machine's memory in bytes: `MemTotal` of `/proc/meminfo`, or [`FALLBACK_MEMORY_BYTES`]
/// where that file is missing or unreadable.
pub fn memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| parse_mem_total(&text))
        .unwrap_or(FALLBACK_MEMORY_BYTES)
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn parse_mem_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The bytes of `n` images of `height × width` `f32` pixels, saturating.
pub fn image_bytes(n: usize, height: usize, width: usize) -> u128 {
    (n as u128)
        .saturating_mul(height as u128)
        .saturating_mul(width as u128)
        .saturating_mul(4)
}

/// Checks that `bytes` (what `what` would allocate, set by `field`) fit in the machine's memory
/// ([`memory_bytes`]); otherwise [`Error::TooLarge`] names the field and the bytes needed.
pub fn check_memory(field: &str, what: &str, bytes: u128) -> Result<()> {
    let memory = memory_bytes();
    if bytes > u128::from(memory) {
        return Err(Error::TooLarge {
            field: field.into(),
            what: what.into(),
            bytes,
            memory,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_bytes() {
        let text = "MemTotal:       16384 kB\nMemFree:        1 kB\n";
        assert_eq!(parse_mem_total(text), Some(16384 * 1024));
        assert_eq!(parse_mem_total("MemFree: 3 kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: lots kB\n"), None);
        assert!(memory_bytes() > 0);
    }

    #[test]
    fn too_large_names_the_field_and_the_bytes() {
        let bytes = image_bytes(64, 100_000, 100_000);
        assert_eq!(bytes, 2_560_000_000_000);
        let e = check_memory("data.size", "64 images of 100000×100000", bytes)
            .expect_err("too large")
            .to_string();
        assert!(
            e.contains("data.size") && e.contains("2560000000000 bytes") && !e.contains('\n'),
            "{e}"
        );
        check_memory("data.size", "one small image", image_bytes(1, 16, 16)).expect("fits");
        assert_eq!(image_bytes(usize::MAX, usize::MAX, usize::MAX), u128::MAX);
    }
}
