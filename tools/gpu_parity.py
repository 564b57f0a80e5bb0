#!/usr/bin/env python3
"""Checks `jointdiff score` on a device against the committed PyTorch fixtures (float64 reference values).

Splits each fixture into a weights file and an input file (x, sigma, v), runs jointdiff score, and prints
the norm-wise relative error (max |ours - torch| / max |torch|) of score and vjp. Needs only numpy.
"""
import argparse
import os
import shlex
import subprocess
import sys

import numpy as np

from safetensors_np import read, write

FIXTURES = ["ncsnv2_ngf8_32x32x1.safetensors", "ncsnv2_ngf8_64x64x3.safetensors"]
NON_WEIGHTS = {"x", "sigma", "v", "x0", "z", "score", "vjp", "dsm_loss"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jointdiff", required=True, help="command that runs jointdiff")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--work", default="/tmp/parity")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "JointDiffusion.Gpu.Tests", "Fixtures")
    worst = 0.0
    for name in FIXTURES:
        t, meta = read(os.path.join(here, name))
        weights = {k: v for k, v in t.items() if k not in NON_WEIGHTS and not k.startswith(("grad.", "act."))}
        w, i, o = (os.path.join(args.work, s + name) for s in ("w_", "in_", "out_"))
        write(w, weights, meta)
        write(i, {k: t[k] for k in ("x", "sigma", "v")})
        cmd = shlex.split(args.jointdiff) + ["score", "--weights", w, "--input", i, "--out", o, "--device", args.device]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{name}: jointdiff failed ({r.returncode}): {r.stderr.strip()}")
            sys.exit(1)
        got, _ = read(o)
        for k in ("score", "vjp"):
            err = float(np.abs(got[k].astype(np.float64) - t[k]).max() / np.abs(t[k]).max())
            worst = max(worst, err)
            print(f"{name} {k}: relative error {err:.2e}")
    print(f"worst relative error {worst:.2e} (tests require < 1e-4 for score and < 1e-3 for vjp)")


if __name__ == "__main__":
    main()
