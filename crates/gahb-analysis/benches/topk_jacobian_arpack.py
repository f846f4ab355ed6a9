"""ARPACK (scipy `eigsh`) on the exact symmetric part of a real denoiser's Jacobian, beside
gahb's restarted Lanczos runs on the same network (issue 15; docs/decisions/0008).

    G=target/release/gahb; A="--model KEY --data fashion-mnist --size 80 --index 65000 --sigma 0.15 --format npy"
    $G spectrum $A --route dense --out runs/dense                       # every eigenpair (d passes)
    $G spectrum $A --route lanczos --k 32 --block 1 --out runs/k32_b1   # any number of these
    python3 crates/gahb-analysis/benches/topk_jacobian_arpack.py runs

The symmetric part is rebuilt as V diag(λ) Vᵀ from the dense run's `eigenvalues.npy` and
`basis.npy`; `eigsh` (which='LA', tol 1e-4, a seeded start vector) runs on it for k = 8, 32, 128
and several ncv, counting matvecs. On the network each matvec of the symmetric part costs two
products (J·v and Jᵀ·v), so ARPACK's column is 2 × matvecs, in the unit gahb counts. The gahb
rows are read from each other run's `summary.json`. Needs numpy and scipy, not torch.
"""

import glob
import json
import os
import sys
import time

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh


def one(folder, name):
    hits = glob.glob(os.path.join(folder, "**", name), recursive=True)
    return hits[0] if hits else None


def main():
    runs = sys.argv[1] if len(sys.argv) > 1 else "runs"
    dense = os.path.join(runs, "dense")
    lam = np.load(one(dense, "eigenvalues.npy")).astype(np.float64)
    basis = np.load(one(dense, "basis.npy")).reshape(len(lam), -1).astype(np.float64)
    a = (basis.T * lam) @ basis
    a = 0.5 * (a + a.T)
    print(f"d = {a.shape[0]}, tr = {lam.sum():.2f}, λ_1 = {lam[0]:.4f}, λ_32 = {lam[31]:.4f}")
    print("| solver | k | setting | products | converged | max error | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for sub in sorted(os.listdir(runs)):
        s = one(os.path.join(runs, sub), "summary.json")
        if sub == "dense" or s is None:
            continue
        summary = json.load(open(s))
        lz = summary["route_details"]["lanczos"]
        vals = np.load(one(os.path.join(runs, sub), "eigenvalues.npy"))
        err = np.abs(vals - lam[: len(vals)]).max()
        print(f"| gahb | {lz['k']} | block {lz['block_size']}, basis {lz['max_basis']} | "
              f"{lz['n_products']} | {lz['n_converged']}/{lz['k']} | {err:.1e} | {lz['wall_s']:.1f} |")
    v0 = np.random.default_rng(0).standard_normal(a.shape[0])
    for k in [8, 32, 128]:
        for ncv in sorted({max(2 * k + 1, 20), 4 * k, 200, 400}):
            if ncv <= k or ncv >= a.shape[0]:
                continue
            count = [0]

            def mv(x, count=count):
                count[0] += 1 if x.ndim == 1 else x.shape[1]
                return a @ x

            op = LinearOperator(a.shape, matvec=mv, dtype=np.float64)
            t = time.time()
            w, _ = eigsh(op, k=k, which="LA", tol=1e-4, ncv=ncv, v0=v0)
            err = np.abs(np.sort(w)[::-1] - lam[:k]).max()
            print(f"| ARPACK | {k} | ncv {ncv} | {2 * count[0]} ({count[0]} matvecs) | {k}/{k} | "
                  f"{err:.1e} | {time.time() - t:.1f} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
