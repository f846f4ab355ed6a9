"""Products per converged pair: gahb's restarted block Lanczos against scipy's ARPACK (`eigsh`) on
the same explicit symmetric matrices, in one run (issue 15, item 3).

    python3 crates/gahb-analysis/benches/topk_arpack.py [--dim 4096] [--tol 1e-6] [--out DIR]

It runs `cargo run --release -p gahb-analysis --example topk_products`, which writes the matrices
(`fast`, `slow`, `plateau` spectra; see the example's docs) and gahb's counts, then runs `eigsh`
with which='LA', the same tolerance (ARPACK's test ‖A s − θ s‖ ≤ tol·|θ|), its default ncv =
max(2k + 1, 20) and a seeded start vector, counting matvecs through a LinearOperator. Prints a
table and writes `comparison.json` and `comparison.md` into the folder. Needs numpy and scipy
(`pip install numpy scipy`), not torch.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh


def spectrum(name, d):
    """The exact eigenvalues, as examples/topk_products.rs defines them."""
    i = np.arange(d, dtype=np.float64)
    if name == "fast":
        return np.exp(-i / 25.0)
    if name == "slow":
        return (1.0 + i) ** -0.5
    return np.where(i < 300, 1.0 - 0.02 * i / 300.0, 0.98 * np.exp(-(i - 300.0) / 200.0))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dim", type=int, default=4096)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--out", default="target/topk-arpack")
    p.add_argument("--skip-gahb", action="store_true", help="reuse the folder's gahb.json and matrices")
    a = p.parse_args()
    if not a.skip_gahb:
        subprocess.run(
            ["cargo", "run", "--release", "-q", "-p", "gahb-analysis", "--example", "topk_products", "--",
             "--out", a.out, "--dim", str(a.dim), "--tol", str(a.tol)],
            check=True,
        )
    ours = json.load(open(os.path.join(a.out, "gahb.json")))
    rows = []
    cache = {}
    for r in ours["runs"]:
        name, k = r["spectrum"], r["k"]
        if name not in cache:
            cache[name] = np.load(os.path.join(a.out, f"{name}.npy"))
        mat = cache[name]
        count = [0]

        def mv(v, mat=mat, count=count):
            count[0] += 1
            return mat @ v

        op = LinearOperator(mat.shape, matvec=mv, dtype=np.float64)
        v0 = np.random.default_rng(1).standard_normal(mat.shape[0])
        t0 = time.time()
        vals = eigsh(op, k=k, which="LA", tol=a.tol, v0=v0, return_eigenvectors=False)
        secs = time.time() - t0
        arpack_ppp = count[0] / k
        exact = spectrum(name, mat.shape[0])[:k]
        arpack_err = float(np.max(np.abs(np.sort(vals)[::-1] - exact)))
        ratio = (r["products_per_pair"] or float("nan")) / arpack_ppp
        rows.append({**r, "arpack_products": count[0], "arpack_products_per_pair": arpack_ppp,
                     "arpack_seconds": secs, "arpack_max_eigenvalue_error": arpack_err, "ratio": ratio, "arpack_top": float(np.max(vals))})
    lines = ["| spectrum | k | gahb products | converged | gahb per pair | gahb max error | gahb s | ARPACK products | ARPACK per pair | ARPACK max error | ARPACK s | ratio |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['spectrum']} | {r['k']} | {r['products']} | {r['converged']}/{r['k']} | "
                     f"{r['products_per_pair']:.2f} | {r['max_eigenvalue_error']:.1e} | {r['seconds']:.2f} | {r['arpack_products']} | "
                     f"{r['arpack_products_per_pair']:.2f} | {r['arpack_max_eigenvalue_error']:.1e} | {r['arpack_seconds']:.2f} | {r['ratio']:.2f} |")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(a.out, "comparison.json"), "w") as f:
        json.dump({"dim": a.dim, "tol": a.tol, "rows": rows}, f, indent=1)
    with open(os.path.join(a.out, "comparison.md"), "w") as f:
        f.write(f"d = {a.dim}, tol = {a.tol} (per pair), block 1\n\n{table}\n")
    worst = max(r["ratio"] for r in rows)
    print(f"worst ratio gahb/ARPACK products per converged pair: {worst:.2f}")
    sys.exit(0)


if __name__ == "__main__":
    main()
