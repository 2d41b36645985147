#!/usr/bin/python3
"""Fixture for test/unet.test.ts: a tiny U-Net twin (unet_twin.py) with seeded random weights (every tensor
non-zero, including the layers the model zero-initialises), its weights as safetensors in PyTorch layout, an
input batch and the eval-mode ε prediction; plus the parameter counts of the default 28x28x1 and 32x32x3 nets.

Run: /usr/bin/python3 bench/reference/make_unet_fixtures.py   (Debian torch 1.13; writes fixtures/unet/)
"""
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet_twin import DEFAULTS, UNet  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "unet")

TINY = dict(image_size=12, in_channels=3, num_classes=3, base_channels=8, channel_mult=(1, 2, 2),
            num_res_blocks=1, attention_heads=2, dropout=0.0, groups=4)


def write_safetensors(path, tensors, metadata):
    """The safetensors layout: u64 LE header length, JSON header (sorted keys, space-padded to 8 bytes), data."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def reference_schedules(steps=1000, at=(0, 1, 499, 998, 999)):
    """ᾱ_t of DDPM's linear and improved DDPM's cosine schedule, in numpy float64, at a few steps."""
    linear = np.linspace(1e-4, 0.02, steps, dtype=np.float64)
    f = np.cos((np.arange(steps + 1) / steps + 0.008) / 1.008 * np.pi / 2) ** 2
    cosine = np.minimum(1 - f[1:] / f[:-1], 0.999)
    return {
        "at": list(at),
        "linear": [float(np.cumprod(1 - linear)[i]) for i in at],
        "cosine": [float(np.cumprod(1 - cosine)[i]) for i in at],
    }


def count(net):
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def main():
    torch.manual_seed(0)
    net = UNet(**TINY).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(("norm1.weight", "norm2.weight", "norm.weight", "norm_out.weight")):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
    b, s, c = 3, TINY["image_size"], TINY["in_channels"]
    x = torch.randn(b, c, s, s)
    t = torch.tensor([0.0, 17.0, 999.0])
    y = torch.tensor([0, 2, TINY["num_classes"]])  # the last is the null class
    with torch.no_grad():
        eps = net(x, t, y)
    os.makedirs(OUT, exist_ok=True)
    weights = {k: v.numpy() for k, v in net.state_dict().items()}
    write_safetensors(os.path.join(OUT, "tiny.safetensors"), weights, {"format": "pt", "layout": "torch (OIHW, [out, in])"})
    doc = {
        "config": TINY,
        "x": x.permute(0, 2, 3, 1).flatten().tolist(),  # NHWC
        "t": t.tolist(),
        "y": y.tolist(),
        "eps": eps.permute(0, 2, 3, 1).flatten().tolist(),  # NHWC
        "numParameters": {
            "tiny": count(net),
            "default_28x28x1_10": count(UNet(28, 1, 10, **DEFAULTS)),
            "default_32x32x3_10": count(UNet(32, 3, 10, **DEFAULTS)),
        },
        "schedules": reference_schedules(),
        "torch": torch.__version__,
    }
    with open(os.path.join(OUT, "tiny.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    print(f"eps std {eps.std():.4f}, params {doc['numParameters']} → {OUT}")


if __name__ == "__main__":
    main()
