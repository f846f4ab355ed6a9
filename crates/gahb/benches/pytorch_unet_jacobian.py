"""The full Jacobian of the 40×40 bias-free UNet (2 blocks, 64 channels) by `torch.func.jacrev`,
for comparison with `cargo bench -p gahb --bench unet_jacobian` (same network, same machine, CPU,
libtorch's default thread count). The network is the one of
`crates/gahb-denoiser/benches/pytorch_train_step.py`, in eval mode; f(y) = y − net(y).

Needs a venv with the full torch wheel (the project venv cannot `import torch`):
    python3 -m venv /tmp/ptv && /tmp/ptv/bin/pip install torch==2.11.0
    /tmp/ptv/bin/python crates/gahb/benches/pytorch_unet_jacobian.py [repeats] [chunk sizes]
"""
import importlib.util
import pathlib
import statistics
import sys
import time

import torch
from torch.func import jacrev

HERE = pathlib.Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location(
    "pytorch_train_step", HERE.parent.parent / "gahb-denoiser" / "benches" / "pytorch_train_step.py")
ts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ts)


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    chunks = [int(c) for c in sys.argv[2].split(",")] if len(sys.argv) > 2 else [64, 200]
    torch.manual_seed(0)
    size = 40
    net = ts.UNet(2).eval()
    y = torch.rand(1, 1, size, size) + 0.1 * torch.randn(1, 1, size, size)

    def f(v):
        return v - net(v)

    with torch.no_grad():
        for batch in chunks:
            # The forward floor: d = 1600 images through the network, `batch` at a time.
            basis = torch.eye(size * size).reshape(-1, 1, size, size)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                for s in range(0, basis.shape[0], batch):
                    net(basis[s:s + batch])
                times.append(time.perf_counter() - t0)
            print(f"pytorch {torch.__version__} threads={torch.get_num_threads()} forward of "
                  f"{size * size} images, batch {batch}: median {statistics.median(times):.2f} s")
    for chunk in chunks:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            j = jacrev(f, chunk_size=chunk)(y)
            times.append(time.perf_counter() - t0)
        j = j.reshape(size * size, size * size)
        # Bias-free check: f(y) = J y.
        rel = ((j @ y.reshape(-1) - f(y).reshape(-1)).norm() / f(y).norm()).item()
        print(f"pytorch {torch.__version__} threads={torch.get_num_threads()} jacrev 40x40 "
              f"chunk {chunk}: median {statistics.median(times):.2f} s "
              f"(min {min(times):.2f}, {repeats} runs), |Jy - f(y)|/|f(y)| = {rel:.1e}")


if __name__ == "__main__":
    main()
