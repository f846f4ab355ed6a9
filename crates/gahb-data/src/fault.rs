//! Fault injection for tests of crash safety (issue 13): `GAHB_FAULT_AT=<point>` (or
//! `<point>@<k>`, the k-th time the point is reached, from 1) makes the process abort there, as a
//! kill -9 would stop it: no destructor runs and no file is cleaned up. Unset, a point costs one
//! environment lookup. The points are named where they are: `commit:parts-written`,
//! `commit:part-renamed`, `commit:sidecar-renamed` (gahb-denoiser's checkpoint commit),
//! `write:before-rename` (the binary's output files) and `data:before-rename` (a prepared dataset's
//! cache file).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

static HITS: Mutex<Vec<(String, usize)>> = Mutex::new(Vec::new());
static ARMED: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Aborts the process when `GAHB_FAULT_AT` names `point` (and this is the k-th hit).
pub fn point(point: &str) {
    if ARMED.load(Ordering::Relaxed) == 0 {
        return;
    }
    let Ok(spec) = std::env::var("GAHB_FAULT_AT") else {
        ARMED.store(0, Ordering::Relaxed);
        return;
    };
    let (name, k) = match spec.split_once('@') {
        Some((n, k)) => (n.to_string(), k.parse::<usize>().unwrap_or(1)),
        None => (spec.clone(), 1),
    };
    if name != point {
        return;
    }
    let hit = {
        let mut hits = HITS.lock().unwrap_or_else(|e| e.into_inner());
        let entry = match hits.iter().position(|(n, _)| *n == name) {
            Some(i) => &mut hits[i].1,
            None => {
                hits.push((name.clone(), 0));
                let last = hits.len() - 1;
                &mut hits[last].1
            }
        };
        *entry += 1;
        *entry
    };
    if hit == k {
        eprintln!("GAHB_FAULT_AT={spec}: aborting at {point}");
        std::process::abort();
    }
}
