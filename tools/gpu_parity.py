#!/usr/bin/env python3
"""Checks `jointdiff score` on a device against the committed PyTorch fixtures (float64 reference values).

Splits each fixture into a weights file and an input file (x, sigma, v), runs jointdiff score, and prints
the norm-wise relative error (max |ours - torch| / max |torch|) of score and vjp. Needs only numpy.
"""
import argparse
import json
import os
import shlex
import struct
import subprocess
import sys

import numpy as np

FIXTURES = ["ncsnv2_ngf8_32x32x1.safetensors", "ncsnv2_ngf8_64x64x3.safetensors"]
NON_WEIGHTS = {"x", "sigma", "v", "x0", "z", "score", "vjp", "dsm_loss"}


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {k: np.frombuffer(data[e["data_offsets"][0]:e["data_offsets"][1]], dtype="<f4").reshape(e["shape"])
               for k, e in header.items()}
    return tensors, meta


def write(path, tensors, meta=None):
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for k in sorted(tensors):
        b = np.ascontiguousarray(tensors[k], dtype="<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


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
