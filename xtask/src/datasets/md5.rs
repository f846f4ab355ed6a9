//! MD5 (RFC 1321), for the checksums that upstream lists give only as MD5 (the CelebA archive and
//! annotation files in torchvision's `CelebA` class). xtask depends only on anyhow, clap and xshell,
//! so the digest is written out here; it checks downloads against published values and is no
//! protection against a forged file.

use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, bail, Result};

/// Per-round shift amounts (RFC 1321 §3.4).
const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// `K[i] = floor(2^32 · |sin(i + 1)|)` (RFC 1321 §3.4, the table T).
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// An incremental MD5: `update` with any split of the input, then `hex`.
#[derive(Clone, Debug)]
pub struct Md5 {
    state: [u32; 4],
    buf: [u8; 64],
    buf_len: usize,
    len: u64,
}

impl Default for Md5 {
    fn default() -> Self {
        Self {
            state: [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476],
            buf: [0; 64],
            buf_len: 0,
            len: 0,
        }
    }
}

impl Md5 {
    /// Feeds more bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        if self.buf_len > 0 {
            let take = (64 - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
            if self.buf_len < 64 {
                return;
            }
            let block = self.buf;
            self.compress(&block);
            self.buf_len = 0;
        }
        let mut blocks = data.chunks_exact(64);
        for block in &mut blocks {
            self.compress(block.try_into().expect("invariant: chunks of 64"));
        }
        let rest = blocks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    /// The digest as 32 lowercase hex digits.
    pub fn hex(mut self) -> String {
        let bits = self.len.wrapping_mul(8);
        self.update(&[0x80]);
        while self.buf_len != 56 {
            self.update(&[0]);
        }
        self.update(&bits.to_le_bytes());
        self.state
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn compress(&mut self, block: &[u8; 64]) {
        let m: [u32; 16] = std::array::from_fn(|i| {
            u32::from_le_bytes(
                block[4 * i..4 * i + 4]
                    .try_into()
                    .expect("invariant: 4 bytes"),
            )
        });
        let [mut a, mut b, mut c, mut d] = self.state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let rotated = a
                .wrapping_add(f)
                .wrapping_add(K[i])
                .wrapping_add(m[g])
                .rotate_left(S[i]);
            (a, b, c, d) = (d, b.wrapping_add(rotated), b, c);
        }
        for (s, v) in self.state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }
}

/// The MD5 of a file, streamed in 1 MiB pieces (a 1.4 GB archive is never held in memory).
///
/// `progress(done, total)` is called after every piece with the bytes read so far and the file's
/// length. Errors are one line that names the file.
pub fn md5_file(path: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<String> {
    let mut f =
        std::fs::File::open(path).map_err(|e| anyhow!("cannot open {}: {e}", path.display()))?;
    let total = f
        .metadata()
        .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?
        .len();
    let mut h = Md5::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => bail!("cannot read {}: {e}", path.display()),
        };
        if n == 0 {
            return Ok(h.hex());
        }
        h.update(&buf[..n]);
        done += n as u64;
        progress(done, total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-shot digest, through `update` once.
    fn md5_hex(data: &[u8]) -> String {
        let mut h = Md5::default();
        h.update(data);
        h.hex()
    }

    /// The test suite of RFC 1321 §A.5, each input given in one piece.
    #[test]
    fn rfc1321_vectors() {
        let cases = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (RFC_DIGITS, "57edf4a22be3c955ac49da2e2107b67a"),
        ];
        for (input, want) in cases {
            assert_eq!(md5_hex(input.as_bytes()), want, "md5({input:?})");
        }
    }

    /// The RFC's 80-digit input (two blocks once padded), split at every point and in small pieces.
    #[test]
    fn rfc1321_digits_split_across_updates() {
        let data = RFC_DIGITS.as_bytes();
        let want = "57edf4a22be3c955ac49da2e2107b67a";
        for cut in 0..=data.len() {
            let mut h = Md5::default();
            h.update(&data[..cut]);
            h.update(&data[cut..]);
            assert_eq!(h.hex(), want, "split at {cut}");
        }
        for piece in [1, 3, 7, 63, 64, 65] {
            let mut h = Md5::default();
            data.chunks(piece).for_each(|c| h.update(c));
            assert_eq!(h.hex(), want, "pieces of {piece}");
        }
    }

    /// A million `a` (15,625 blocks) in uneven pieces that straddle block edges: the published
    /// digest 7707d6ae4e027c70eea2a935c2296f21.
    #[test]
    fn million_a_in_uneven_pieces() {
        let data = vec![b'a'; 1_000_000];
        let mut h = Md5::default();
        let mut rest = &data[..];
        for piece in [1usize, 63, 64, 65, 130, 4097].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = (*piece).min(rest.len());
            h.update(&rest[..n]);
            rest = &rest[n..];
        }
        assert_eq!(h.hex(), "7707d6ae4e027c70eea2a935c2296f21");
    }

    /// Any split of the input gives the one-shot digest, across the 55/56/64-byte padding edges.
    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in [0, 1, 55, 56, 57, 63, 64, 65, 127, 128, 129, 300] {
            let whole = md5_hex(&data[..len]);
            for piece in [1, 3, 17, 64, 100] {
                let mut h = Md5::default();
                data[..len].chunks(piece).for_each(|c| h.update(c));
                assert_eq!(h.hex(), whole, "len {len}, pieces of {piece}");
            }
        }
    }

    /// A 3 MiB file is read in 1 MiB pieces, with progress after each; the digest is the one of the
    /// same bytes in memory (GNU md5sum gives 10046f077f2082ac19676b8079f1cb1a for the first 1000).
    #[test]
    fn file_digest_streams_with_progress() {
        let data: Vec<u8> = (0..3 * (1u32 << 20) + 5)
            .map(|i| (i.wrapping_mul(7) + 3) as u8)
            .collect();
        assert_eq!(md5_hex(&data[..1000]), "10046f077f2082ac19676b8079f1cb1a");
        let dir = std::env::temp_dir().join(format!("xtask-md5-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary folder");
        let p = dir.join("data.bin");
        std::fs::write(&p, &data).expect("write");
        let mut seen = Vec::new();
        let got = md5_file(&p, &mut |done, total| seen.push((done, total)));
        std::fs::remove_dir_all(&dir).expect("clean up");
        assert_eq!(got.expect("md5 of the file"), md5_hex(&data));
        let total = data.len() as u64;
        assert_eq!(seen.last(), Some(&(total, total)));
        assert!(seen.len() >= 4, "one call per piece: {seen:?}");
    }

    /// A missing file is a one-line error that names it.
    #[test]
    fn missing_file_is_named() {
        let p = std::env::temp_dir().join("xtask-md5-no-such-file.bin");
        let err = md5_file(&p, &mut |_, _| {}).expect_err("no file");
        let msg = format!("{err:#}");
        assert!(msg.contains("xtask-md5-no-such-file.bin"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    /// RFC 1321 §A.5: eight copies of "1234567890".
    const RFC_DIGITS: &str =
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890";
}
