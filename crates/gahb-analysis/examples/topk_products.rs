//! Products to converge the top-k of explicit symmetric matrices with denoiser-like spectra, by
//! the restarted block Lanczos of `restart.rs` (issue 15, item 3). Writes each matrix as `.npy`
//! (f64) and the counts as `gahb.json` into `--out`, so `benches/topk_arpack.py` runs scipy's
//! ARPACK (`eigsh`) on the very same matrices and compares products per converged pair in one run.
//!
//! A = Q diag(λ) Qᵀ with Q orthogonal (QR of a seeded Gaussian matrix) and three spectra:
//! - `fast`: λ_i = exp(−i/25), a fast decay;
//! - `slow`: λ_i = (1 + i)^(−1/2), a slow decay;
//! - `plateau`: λ_i = 1 − 0.02·i/300 for i < 300, then exp(−(i − 300)/200)·0.98, a flat top near 1.
//!
//! `cargo run --release -p gahb-analysis --example topk_products -- --out DIR [--dim 4096]
//! [--tol 1e-6] [--block 1]`; products are single-vector operator applications, as ARPACK counts
//! its matvecs; the tolerance is ARPACK's per-pair test ‖A s − θ s‖ ≤ tol·|θ|.

use std::io::Write;
use std::path::PathBuf;

use gahb_analysis::{restarted_lanczos, MatrixOperator, RestartedConfig, ToleranceScale};
use tch::{Device, Kind, Tensor};

fn spectrum(name: &str, d: usize) -> Vec<f64> {
    (0..d)
        .map(|i| {
            let x = i as f64;
            match name {
                "fast" => (-x / 25.0).exp(),
                "slow" => (1.0 + x).powf(-0.5),
                _ if i < 300 => 1.0 - 0.02 * x / 300.0,
                _ => 0.98 * (-(x - 300.0) / 200.0).exp(),
            }
        })
        .collect()
}

fn npy_f64(path: &std::path::Path, d: usize, data: &[f64]) -> std::io::Result<()> {
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({d}, {d}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let tmp = path.with_extension("npy.tmp");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    for v in data {
        f.write_all(&v.to_le_bytes())?;
    }
    f.flush()?;
    drop(f);
    std::fs::rename(tmp, path)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let out = PathBuf::from(get("--out").ok_or("give --out DIR")?);
    let d: usize = get("--dim").map_or(Ok(4096), |s| s.parse())?;
    let tol: f64 = get("--tol").map_or(Ok(1e-6), |s| s.parse())?;
    let block: usize = get("--block").map_or(Ok(1), |s| s.parse())?;
    std::fs::create_dir_all(&out)?;
    tch::manual_seed(0);
    let g = Tensor::randn([d as i64, d as i64], (Kind::Double, Device::Cpu));
    let (q, _) = Tensor::linalg_qr(&g, "reduced");
    let mut rows = Vec::new();
    let only = get("--spectra");
    for name in ["fast", "slow", "plateau"] {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|x| x == name))
        {
            continue;
        }
        let lam = Tensor::from_slice(&spectrum(name, d));
        let a = q.matmul(&lam.diag(0)).matmul(&q.tr());
        let a = (&a + a.tr()) * 0.5;
        let flat = Vec::<f64>::try_from(a.flatten(0, -1))?;
        npy_f64(&out.join(format!("{name}.npy")), d, &flat)?;
        for k in [8usize, 32, 128] {
            let mut op = MatrixOperator::new(&a)?;
            let cfg = RestartedConfig {
                tol,
                tol_scale: ToleranceScale::PerPair,
                budget: 40 * d,
                block_size: block,
                seed: 1,
                ..RestartedConfig::default()
            };
            let res = restarted_lanczos(&mut op, k, &cfg)?;
            let s = &res.summary;
            let top = res.eigen.values_vec()?;
            let exact = spectrum(name, d);
            let err = top
                .iter()
                .zip(&exact)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            eprintln!(
                "{name:8} k = {k:3}: {} products, {} of {k} converged, {:.2} per pair, {} restarts, basis {}, max |θ − λ| {err:.1e}, {:.2} s",
                s.n_products,
                s.n_converged,
                s.products_per_converged_pair.unwrap_or(f64::NAN),
                s.restarts,
                s.max_basis,
                s.wall_s
            );
            rows.push(serde_json::json!({
                "spectrum": name, "k": k, "dim": d, "tol": tol, "block": block,
                "products": s.n_products, "converged": s.n_converged, "all_converged": s.converged,
                "products_per_pair": s.products_per_converged_pair, "restarts": s.restarts,
                "max_basis": s.max_basis, "max_eigenvalue_error": err, "seconds": s.wall_s,
            }));
        }
    }
    let json =
        serde_json::to_vec_pretty(&serde_json::json!({ "dim": d, "tol": tol, "runs": rows }))?;
    let tmp = out.join("gahb.json.tmp");
    std::fs::write(&tmp, json)?;
    std::fs::rename(tmp, out.join("gahb.json"))?;
    Ok(())
}
