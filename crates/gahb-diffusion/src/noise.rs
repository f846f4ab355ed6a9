//! Seeded Gaussian noise, one ChaCha stream per sample (PAPER.md §4, Fig. 2: models A and B are run
//! "from the same initial noise").
//!
//! Sample `i` of a run with seed `s` draws every number from stream `first_sample_index + i` of
//! `ChaCha8Rng::seed_from_u64(s)` (`gahb_tensor::random`): first the `d` values of its initial
//! noise, then `d` values of z at each step.
//! The noise is therefore a function of (seed, sample index, step) only.
//! It does not depend on the denoiser, on libtorch's global generator, on the batch size, on how the
//! samples are split into chunks, or on which other samples are still running.
//! The numbers are drawn on the CPU (never inside libtorch) and moved to the denoiser's device.
//! Long runs draw them ahead of time in plain `std::thread` workers, so that drawing overlaps the
//! denoiser calls; the workers never touch libtorch.

use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};

use crate::error::{Error, Result};

pub use gahb_tensor::random::{fill_standard_normal, stream_rng};

/// The first block of `n` noise streams: an `[n, shape...]` standard normal f32 tensor on `device`,
/// row `i` from stream `first_stream + i` of `seed`.
/// Row `i` equals the initial noise z₀ that the sampler gives sample `first_stream + i` for this seed.
pub fn standard_normal(
    seed: u64,
    first_stream: u64,
    n: usize,
    image_shape: &[i64],
    device: Device,
) -> Result<Tensor> {
    Ok(gahb_tensor::random::standard_normal(
        seed,
        first_stream,
        n,
        image_shape,
        device,
    )?)
}

/// Blocks of noise for `n` samples, one block per step, drawn ahead of time by worker threads.
pub(crate) struct NoiseStreams {
    workers: Vec<Worker>,
    d: usize,
}

struct Worker {
    /// The first sample this worker draws for.
    lo: usize,
    /// One past the last sample.
    hi: usize,
    rx: Option<Receiver<Vec<f32>>>,
    handle: Option<JoinHandle<()>>,
}

/// Blocks smaller than this many numbers are drawn by one worker.
const VALUES_PER_WORKER: usize = 1 << 16;
/// Blocks each worker may draw ahead of the sampler.
const BLOCKS_AHEAD: usize = 2;

impl NoiseStreams {
    /// Starts the workers for samples `first_stream..first_stream + n` of `seed`, `d` numbers per
    /// sample and step.
    pub(crate) fn new(seed: u64, first_stream: u64, n: usize, d: usize) -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let n_workers = ((n * d) / VALUES_PER_WORKER)
            .clamp(1, cores.clamp(1, 4))
            .min(n.max(1));
        let per = n.div_ceil(n_workers);
        let mut workers = Vec::with_capacity(n_workers);
        for w in 0..n_workers {
            let lo = (w * per).min(n);
            let hi = ((w + 1) * per).min(n);
            let (tx, rx) = sync_channel::<Vec<f32>>(BLOCKS_AHEAD);
            let handle = std::thread::Builder::new()
                .name(format!("gahb-noise-{w}"))
                .spawn(move || {
                    let mut rngs: Vec<ChaCha8Rng> = (lo..hi)
                        .map(|i| stream_rng(seed, first_stream + i as u64))
                        .collect();
                    loop {
                        let mut block = vec![0f32; (hi - lo) * d];
                        if d > 0 {
                            for (rng, row) in rngs.iter_mut().zip(block.chunks_mut(d)) {
                                fill_standard_normal(rng, row);
                            }
                        }
                        // The sampler has finished when the receiver is gone.
                        if tx.send(block).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| Error::NoiseWorker(e.to_string()))?;
            workers.push(Worker {
                lo,
                hi,
                rx: Some(rx),
                handle: Some(handle),
            });
        }
        Ok(Self { workers, d })
    }

    /// The next block, keeping only the rows of the samples in `rows` (sorted sample indices),
    /// concatenated in that order. Every stream advances by one block whether or not it is kept.
    pub(crate) fn next_rows(&mut self, rows: &[usize]) -> Result<Vec<f32>> {
        let d = self.d;
        let mut out = Vec::with_capacity(rows.len() * d);
        let mut next = 0;
        for w in &self.workers {
            let rx = w.rx.as_ref().expect("invariant: receivers live until drop");
            let block = rx
                .recv()
                .map_err(|_| Error::NoiseWorker("a noise worker exited early".into()))?;
            while next < rows.len() && rows[next] < w.hi {
                let r = rows[next];
                if r < w.lo {
                    return Err(Error::InvalidArgument {
                        name: "noise rows",
                        reason: format!("row indices must be sorted and unique, got {rows:?}"),
                    });
                }
                let off = (r - w.lo) * d;
                out.extend_from_slice(&block[off..off + d]);
                next += 1;
            }
        }
        if next != rows.len() {
            return Err(Error::InvalidArgument {
                name: "noise rows",
                reason: format!("row {} is outside the {} samples", rows[next], self.n()),
            });
        }
        Ok(out)
    }

    fn n(&self) -> usize {
        self.workers.last().map_or(0, |w| w.hi)
    }
}

impl Drop for NoiseStreams {
    fn drop(&mut self) {
        // Dropping the receivers makes each worker's next send fail, so it exits.
        for w in &mut self.workers {
            w.rx = None;
        }
        for w in &mut self.workers {
            if let Some(h) = w.handle.take() {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_do_not_depend_on_partition_or_selection() {
        let (seed, n, d) = (11, 7, 5);
        let mut all = NoiseStreams::new(seed, 0, n, d).expect("streams");
        let full0 = all.next_rows(&(0..n).collect::<Vec<_>>()).expect("block");
        let full1 = all.next_rows(&(0..n).collect::<Vec<_>>()).expect("block");
        // Step 0 equals the one-shot initial noise.
        let t = standard_normal(seed, 0, n, &[1, 1, d as i64], Device::Cpu).expect("noise");
        let v = Vec::<f32>::try_from(t.flatten(0, -1)).expect("vec");
        assert_eq!(v, full0);
        // Samples 3..7 run as a separate chunk see the same numbers.
        let mut chunk = NoiseStreams::new(seed, 3, 4, d).expect("streams");
        let c0 = chunk.next_rows(&[0, 2]).expect("block");
        assert_eq!(&c0[..d], &full0[3 * d..4 * d]);
        assert_eq!(&c0[d..], &full0[5 * d..6 * d]);
        let c1 = chunk.next_rows(&[1]).expect("block");
        assert_eq!(&c1[..], &full1[4 * d..5 * d]);
        // Another seed gives other numbers.
        let mut other = NoiseStreams::new(seed + 1, 0, n, d).expect("streams");
        assert_ne!(other.next_rows(&[0]).expect("block"), full0[..d].to_vec());
    }

    #[test]
    fn many_workers_match_one_worker() {
        // Large enough for several workers on a multi-core machine.
        let (n, d) = (8, VALUES_PER_WORKER / 2);
        let rows: Vec<usize> = (0..n).collect();
        let mut many = NoiseStreams::new(3, 0, n, d).expect("streams");
        let a = many.next_rows(&rows).expect("block");
        let b = many.next_rows(&rows[5..]).expect("block");
        for i in 0..n {
            let mut rng = stream_rng(3, i as u64);
            let mut row = vec![0f32; d];
            fill_standard_normal(&mut rng, &mut row);
            assert_eq!(&a[i * d..(i + 1) * d], &row[..]);
            fill_standard_normal(&mut rng, &mut row);
            if i >= 5 {
                assert_eq!(&b[(i - 5) * d..(i - 4) * d], &row[..]);
            }
        }
        assert!(many.next_rows(&[n]).is_err());
    }
}
