"""Minimal safetensors reading and writing with NumPy (float32 only), shared by the tools scripts.

The format: 8-byte little-endian header length, a JSON header (tensor name -> dtype, shape, data_offsets;
optional __metadata__ of strings), then the raw little-endian data. Written headers are padded with spaces
to a multiple of 8 and list tensors sorted by name, as the reference library does.
"""
import json
import struct

import numpy as np


def read(path):
    """Returns ({name: float32 array}, metadata dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {k: np.frombuffer(data[e["data_offsets"][0]:e["data_offsets"][1]], dtype="<f4").reshape(e["shape"])
               for k, e in header.items()}
    return tensors, meta


def write(path, tensors, metadata=None):
    """Writes {name: array} as F32 with optional string metadata."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for k in sorted(tensors):
        b = np.ascontiguousarray(tensors[k], dtype="<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(np.shape(tensors[k])), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
