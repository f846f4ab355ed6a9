"""One training step (forward, backward, Adam) of the bias-free UNet of PAPER.md §1 in PyTorch,
for comparison with `cargo bench -p gahb-denoiser --bench train_step` (same sizes, batch 64,
64 channels, CPU, libtorch's default thread count).

Needs a venv with the full torch wheel (the project venv cannot `import torch`):
    python3 -m venv /tmp/ptv && /tmp/ptv/bin/pip install torch==2.11.0
    /tmp/ptv/bin/python crates/gahb-denoiser/benches/pytorch_train_step.py [steps] [40,80]
"""
import statistics
import sys
import time

import torch
import torch.nn as nn


class BFBatchNorm(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.register_buffer("running_sd", torch.ones(1, c, 1, 1))
        self.gammas = nn.Parameter((torch.randn(1, c, 1, 1) * (2.0 / 9.0 / 64.0)).clamp_(-0.025, 0.025))

    def forward(self, x):
        sd = torch.sqrt(x.var(dim=(0, 2, 3), keepdim=True, unbiased=False) + 1e-5)
        if self.training:
            with torch.no_grad():
                self.running_sd.copy_(0.9 * self.running_sd + 0.1 * sd)
            return x / sd * self.gammas
        return x / self.running_sd * self.gammas


def conv(i, o):
    return nn.Conv2d(i, o, 3, padding=1, bias=False)


class UNet(nn.Module):
    def __init__(self, blocks, c=64):
        super().__init__()
        self.blocks = blocks
        self.encoder = nn.ModuleList()
        for b in range(blocks):
            cb = c << b
            if b == 0:
                self.encoder.append(nn.Sequential(conv(1, c), nn.ReLU(), conv(c, c), BFBatchNorm(c), nn.ReLU()))
            else:
                self.encoder.append(nn.Sequential(conv(cb // 2, cb), BFBatchNorm(cb), nn.ReLU(),
                                                  conv(cb, cb), BFBatchNorm(cb), nn.ReLU()))
        cm = c << blocks
        self.mid_block = nn.Sequential(conv(cm // 2, cm), BFBatchNorm(cm), nn.ReLU(),
                                       conv(cm, cm), BFBatchNorm(cm), nn.ReLU())
        self.upsample = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for b in range(blocks):
            cb = c << b
            self.upsample.append(nn.ConvTranspose2d(2 * cb, cb, 2, stride=2, bias=False))
            if b == 0:
                self.decoder.append(nn.Sequential(conv(2 * cb, cb), BFBatchNorm(cb), nn.ReLU(), conv(cb, 1)))
            else:
                self.decoder.append(nn.Sequential(conv(2 * cb, cb), BFBatchNorm(cb), nn.ReLU(),
                                                  conv(cb, cb), BFBatchNorm(cb), nn.ReLU()))

    def forward(self, x):
        skips = []
        for enc in self.encoder:
            u = enc(x)
            skips.append(u)
            x = nn.functional.avg_pool2d(u, 2, 2)
        x = self.mid_block(x)
        for b in range(self.blocks - 1, -1, -1):
            x = torch.cat([self.upsample[b](x), skips[b]], dim=1)
            x = self.decoder[b](x)
        return x


def bench(size, blocks, steps):
    torch.manual_seed(0)
    net = UNet(blocks)
    n_params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand(64, 1, size, size)
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        sigma = torch.rand(64, 1, 1, 1)
        noise = torch.randn_like(x) * sigma
        loss = ((net(x + noise) - noise) ** 2).sum() / 64
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    print(f"pytorch {torch.__version__} threads={torch.get_num_threads()} unet {size}x{size} blocks={blocks} "
          f"params={n_params}: median step {statistics.median(times):.3f} s "
          f"(min {min(times):.3f}, {len(times)} steps), {64 / statistics.median(times):.1f} img/s")


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    sizes = [int(s) for s in sys.argv[2].split(",")] if len(sys.argv) > 2 else [40, 80]
    for size in sizes:
        bench(size, {40: 2, 80: 3}[size], steps)
