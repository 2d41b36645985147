#!/usr/bin/python3
"""PyTorch half of synthaug's compute benchmark (bench/compute.ts): the same networks, batches and steps.

  /usr/bin/python3 bench/reference/torch_bench.py --case resnet20-train|unet-train|unet-sample|inception-infer|conv-peak \
      --batch B --warmup W --steps N [--params]

Prints one JSON line: {"case", "batch", "stepsMs": [...], "medianMs", "imagesPerSec", "threads", "torch",
"numParameters", "isa"} (isa: the vector instruction set PyTorch's kernels dispatch to). Threads = os.cpu_count(). Networks are twins written here (ResNet-20 with option-A shortcuts as
src/models/resnet_cifar.ts; the U-Net from unet_twin.py; Inception-v3 with the FID block patches as in
fixtures/make_inception_fixtures.py), with their default initialisation: speed does not depend on the values.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "fixtures"))


# ---- ResNet-20 (He et al. 2016 §4.2), option-A shortcut: subsample + zero-pad channels ------------------------

class BasicBlock(nn.Module):
    def __init__(self, in_c, out_c, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_c, out_c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_c)
        self.conv2 = nn.Conv2d(out_c, out_c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_c)
        self.stride, self.pad = stride, (out_c - in_c) // 2

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        s = x
        if self.stride != 1 or self.pad:
            s = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(h + s)


class ResNet20(nn.Module):
    def __init__(self, num_classes=10, width=16, n=3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, in_c = [], width
        for s, mult in enumerate((1, 2, 4)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(in_c, width * mult, 2 if s > 0 and i == 0 else 1))
                in_c = width * mult
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer3(self.layer2(self.layer1(h)))
        return self.fc(h.mean((2, 3)))


# ---- cases ---------------------------------------------------------------------------------------------------

def resnet20_train(batch):
    net = ResNet20().train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return net, step


def unet_train(batch):
    from unet_twin import DEFAULTS, UNet
    net = UNet(28, 1, 10, **DEFAULTS).train()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-4, weight_decay=0.0)
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0).float()
    x0 = torch.rand(batch, 1, 28, 28) * 2 - 1
    labels = torch.randint(0, 10, (batch,))
    gen = torch.Generator().manual_seed(0)

    def step():
        t = torch.randint(0, 1000, (batch,), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        y = torch.where(torch.rand(batch, generator=gen) < 0.1, torch.full_like(labels, 10), labels)
        a = abar[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(net(xt, t.float(), y), noise)
        loss.backward()
        opt.step()
        return loss.item()

    return net, step


# The fmnist preset of the diffusion U-Net (28x28x1, 32 base channels, multipliers 1,2,2, attention at 7x7), as
# bench/sampling.ts builds it.
FMNIST_PRESET = dict(base_channels=32, channel_mult=(1, 2, 2), num_res_blocks=2, attention_heads=4, dropout=0.1, groups=8)


def unet_sample(batch):
    """One step of guided sampling for `batch` images: the EDM-preconditioned U-Net (Karras et al. 2022, Table 1)
    on the conditional and unconditional halves as one batch of 2*batch, the guidance combination and an Euler
    (DDIM) step, as src/diffusion/samplers.ts and guidance.ts do."""
    from unet_twin import UNet
    net = UNet(28, 1, 10, **FMNIST_PRESET).eval()
    sigma_data, w = 0.5, 1.5
    x = torch.randn(batch, 1, 28, 28) * 80
    y = torch.cat([torch.randint(0, 10, (batch,)), torch.full((batch,), 10)])
    state = {"x": x, "sigma": 80.0}

    def step():
        with torch.no_grad():
            s, xs = state["sigma"], state["x"]
            c_skip = sigma_data ** 2 / (s ** 2 + sigma_data ** 2)
            c_out = s * sigma_data / (s ** 2 + sigma_data ** 2) ** 0.5
            c_in = 1 / (s ** 2 + sigma_data ** 2) ** 0.5
            xx = torch.cat([xs, xs])
            d = c_skip * xx + c_out * net(c_in * xx, torch.full((2 * batch,), math.log(s) / 4), y)
            cond, uncond = d.chunk(2)
            den = uncond + w * (cond - uncond)
            s_next = s * 0.9
            state["x"] = den + (s_next / s) * (xs - den)
            state["sigma"] = s_next
            return float(state["x"][0, 0, 0, 0])

    return net, step


def inception_infer(batch):
    from make_inception_fixtures import fid_inception
    net = fid_inception()
    x = torch.rand(batch, 3, 299, 299) * 2 - 1

    def step():
        with torch.no_grad():
            return net(x).sum().item()

    return net, step


def conv_peak(batch):
    conv = nn.Conv2d(64, 64, 3, padding=1, bias=False).eval()
    x = torch.randn(batch, 64, 16, 16)

    def step():
        with torch.no_grad():
            return conv(x).sum().item()

    return conv, step


CASES = {"unet-sample": unet_sample, "conv-peak": conv_peak, "resnet20-train": resnet20_train, "unet-train": unet_train, "inception-infer": inception_infer}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net, step = CASES[args.case](args.batch)
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    median = statistics.median(times)
    print(json.dumps({
        "case": args.case, "batch": args.batch, "stepsMs": times, "medianMs": median,
        "imagesPerSec": args.batch / (median / 1000), "threads": threads, "torch": torch.__version__,
        "numParameters": sum(p.numel() for p in net.parameters() if p.requires_grad),
        "isa": next((l.split(":", 1)[1].strip() for l in torch.__config__.show().splitlines() if "CPU capability usage" in l), "unknown"),
    }))


if __name__ == "__main__":
    main()
