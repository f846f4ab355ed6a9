"""Throughput levers of issue 12 measured in PyTorch, on the quick profile's network and step
(bias-free UNet of PAPER.md §1, 32×32, 2 blocks, 16 channels, batch 32, CPU): the plain fp32 step,
the channels-last memory format, bf16 autocast on the CPU, and 1 against 2 threads. tch 0.24
exposes neither memory formats nor CPU autocast, so these are measured here, on the same kernels
(libtorch 2.11), to decide whether binding them is worth it (docs/decisions/0004).

bf16's accuracy at small σ: a model trained in fp32 for a few hundred steps on smooth images is
evaluated at σ = 0.008 (the paper grid's smallest) with and without bf16 autocast; the script
prints both MSEs against the clean images.

Needs a venv with the full torch wheel (the project venv cannot `import torch`):
    python3 -m venv /tmp/ptv && /tmp/ptv/bin/pip install torch==2.11.0
    /tmp/ptv/bin/python crates/gahb-denoiser/benches/pytorch_cpu_levers.py [steps]
"""
import contextlib
import statistics
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from pytorch_train_step import UNet  # noqa: E402


def smooth_images(n, size, gen):
    low = torch.rand(n, 1, size // 4, size // 4, generator=gen)
    return torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)


def step_time(net, opt, x, steps, channels_last, bf16):
    ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    times = []
    for i in range(steps + 3):
        t0 = time.perf_counter()
        sigma = torch.rand(x.shape[0], 1, 1, 1) ** 2
        noise = torch.randn_like(x) * sigma
        with ctx():
            r = net(x + noise)
        loss = (((r.float() - noise) ** 2).sum(dim=(1, 2, 3)) / sigma.clamp_min(0.01).flatten()).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    size, batch = 32, 32
    gen = torch.Generator().manual_seed(0)
    x = smooth_images(batch, size, gen)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for channels_last, bf16 in ((False, False), (True, False), (False, True), (True, True)):
            torch.manual_seed(0)
            net = UNet(2, 16)
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            med, best = step_time(net, opt, x, steps, channels_last, bf16)
            print(f"threads={threads} channels_last={channels_last!s:5} bf16={bf16!s:5}: "
                  f"median step {1000 * med:.1f} ms (min {1000 * best:.1f}), {batch / med:.0f} img/s")
    # Accuracy of bf16 inference at the smallest σ, on a model trained in fp32.
    torch.set_num_threads(2)
    torch.manual_seed(0)
    net = UNet(2, 16)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    train = smooth_images(2000, size, gen)
    for i in range(300):
        xb = train[torch.randint(0, 2000, (batch,), generator=gen)]
        sigma = torch.rand(batch, 1, 1, 1, generator=gen) ** 2
        noise = torch.randn(xb.shape, generator=gen) * sigma
        loss = (((net(xb + noise) - noise) ** 2).sum(dim=(1, 2, 3)) / sigma.clamp_min(0.01).flatten()).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    test = smooth_images(256, size, gen)
    for sigma in (0.008, 0.1):
        y = test + sigma * torch.randn(test.shape, generator=gen)
        with torch.no_grad():
            mse32 = ((y - net(y) - test) ** 2).mean().item()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                r16 = net(y).float()
            mse16 = ((y - r16 - test) ** 2).mean().item()
        print(f"sigma={sigma}: output MSE fp32 {mse32:.3e}, bf16 autocast {mse16:.3e} "
              f"(input MSE {sigma * sigma:.3e})")


if __name__ == "__main__":
    main()
