#!/usr/bin/env python3
"""Builds src/JointDiffusion.Cli/Demo/demo_pairs.safetensors: the demo's shipped test pairs.

x = the first 8 Fashion-MNIST test images, n = the first 8 MNIST test images, both 28x28 zero-padded to
32x32 and scaled to [0, 1] (the preprocessing of the shipped weights). Licences: Fashion-MNIST MIT,
MNIST CC BY-SA 3.0. Usage: /usr/bin/python3 tools/make_demo_pairs.py DATA_DIR  (after jointdiff data fetch)
"""
import gzip
import os
import struct
import sys

import numpy as np

from safetensors_np import write


def idx(path):
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    n, h, w = struct.unpack(">III", raw[4:16])
    return np.frombuffer(raw[16:], np.uint8).reshape(n, h, w)


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else "data"
    fm = idx(os.path.join(data, "fashion-mnist", "t10k-images-idx3-ubyte.gz"))
    mn = idx(os.path.join(data, "mnist", "t10k-images-idx3-ubyte"))
    pad = lambda a: np.pad(a.astype(np.float32) / 255, ((0, 0), (2, 2), (2, 2)))[:, None]
    tensors = {"x": pad(fm[:8]), "n": pad(mn[:8])}
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "JointDiffusion.Cli", "Demo", "demo_pairs.safetensors")
    write(out, tensors, {"x": "Fashion-MNIST test 0-7 (MIT)", "n": "MNIST test 0-7 (CC BY-SA 3.0)",
                         "preprocessing": "28x28 zero-padded to 32x32, [0,1]"})
    print("wrote", out)


if __name__ == "__main__":
    main()
