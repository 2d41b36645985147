#!/usr/bin/python3
"""PyTorch/scipy half of bench/fid.ts.

  /usr/bin/python3 bench/reference/fid_bench.py extract --batch B --size S --steps N
      pytorch-fid's input path (ToTensor values, F.interpolate bilinear to 299, 2x - 1) and the FID Inception-v3
      (fixtures/make_inception_fixtures.py's twin, default initialisation) on B uint8 images of S x S, eval mode;
      prints {"imagesPerSec", "medianMs", "threads", "torch"}
  /usr/bin/python3 bench/reference/fid_bench.py frechet --stats FILE.npz
      the Fréchet distance as pytorch-fid computes it (scipy.linalg.sqrtm of sigma1·sigma2) on mu1, sigma1, mu2,
      sigma2 from FILE.npz; prints {"fid", "seconds" (wall), "cpuSeconds" (all threads), "numpy", "scipy", "blas"}
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "fixtures"))


def extract(args):
    import numpy as np
    import torch
    import torch.nn.functional as F
    from make_inception_fixtures import fid_inception

    torch.set_num_threads(os.cpu_count() or 1)
    net = fid_inception()
    pooled = {}
    net.avgpool.register_forward_hook(lambda m, i, o: pooled.__setitem__("x", o.flatten(1)))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(args.batch, args.size, args.size, 3), dtype=np.uint8)
    times = []
    with torch.no_grad():
        for step in range(args.steps + 1):
            t0 = time.perf_counter()
            x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
            net(x)
            feats = pooled["x"].numpy()
            if step > 0:
                times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({"imagesPerSec": args.batch / med, "medianMs": med * 1000, "threads": torch.get_num_threads(), "torch": torch.__version__, "dim": feats.shape[1]}))


def frechet(args):
    import numpy as np
    import scipy
    from scipy import linalg

    f = np.load(args.stats)
    mu1, s1, mu2, s2 = f["mu1"], f["sigma1"], f["mu2"], f["sigma2"]
    t0 = time.perf_counter()
    c0 = time.process_time()
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        off = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + off).dot(s2 + off))
    covmean = covmean.real
    fid = diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    blas = "unknown"
    try:
        cfg = np.show_config(mode="dicts")  # numpy >= 1.25
        blas = cfg["Build Dependencies"]["blas"]["name"]
    except Exception:
        blas = os.path.basename(os.path.realpath("/etc/alternatives/libblas.so.3-x86_64-linux-gnu")) if os.path.exists("/etc/alternatives/libblas.so.3-x86_64-linux-gnu") else "unknown"
    print(json.dumps({"fid": float(fid), "seconds": seconds, "cpuSeconds": cpu_seconds, "numpy": np.__version__, "scipy": scipy.__version__, "blas": blas,
                      "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["extract", "frechet"])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--stats")
    args = p.parse_args()
    extract(args) if args.what == "extract" else frechet(args)


if __name__ == "__main__":
    main()
