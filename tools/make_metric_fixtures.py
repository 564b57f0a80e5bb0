#!/usr/bin/python3
"""Reference values for the image metrics (PSNR, SSIM, gCNR) of JointDiffusion.Gpu.Metrics.ImageMetrics.

Writes two files to tests/JointDiffusion.Gpu.Tests/Fixtures/metrics/:

  metric_images.safetensors  the test images, all F32, planar [C, H, W], sorted by name:
                             <case>/estimate, <case>/truth           (PSNR/SSIM pairs)
                             <gcase>/image, <gcase>/region_a, <gcase>/region_b  (gCNR; masks are 0/1)
  metric_expected.json       per case its shape, data range and the expected values.

Expected values:
- PSNR: skimage.metrics.peak_signal_noise_ratio(truth, estimate, data_range=R).
- SSIM: skimage.metrics.structural_similarity(truth, estimate, gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=R, channel_axis=0) on [C, H, W] arrays (also for C = 1).
- gCNR: 1 - sum_k min(p_A(k), p_B(k)) with p_X = numpy.histogram(X, bins, range=(lo, hi))[0] / |X|, where
  [lo, hi] is the [min, max] of the pixels of both regions together (Rodriguez-Molares et al. 2020).

The images are drawn in float32 (what the C# side reads), but skimage and numpy are given float64 copies:
skimage computes in the input's float type, and a float32 SSIM carries ~1e-7 of rounding from
uxx - ux^2 that the float64 reference (and the C# implementation, which works in double) does not have.
The script prints both so the size of that effect is on record.

Checks it runs (exits non-zero on failure): a C = 1 SSIM with channel_axis=0 equals the plain 2-D call; the
explicit binning k = int((v - lo) * (bins / (hi - lo))), clamped to bins - 1, gives numpy.histogram's counts
for every gCNR case (so the C# port of that rule is the numpy convention); identical images give SSIM 1.

Setup: apt-get install -y python3-skimage  (Debian bookworm: scikit-image 0.19.3, SciPy 1.10.1, NumPy 1.24.2)
Run:   /usr/bin/python3 tools/make_metric_fixtures.py [--out DIR]
The output is deterministic (fixed seeds, sorted safetensors header, repr floats in JSON).
"""

import argparse
import json
import os
import struct
import sys

import numpy as np
import scipy
import scipy.ndimage as ndi
import skimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE_DIR = os.path.join(REPO_ROOT, "tests", "JointDiffusion.Gpu.Tests", "Fixtures", "metrics")
IMAGES_FILE = "metric_images.safetensors"
EXPECTED_FILE = "metric_expected.json"


def smooth_field(rng, channels, height, width, sigma):
    """A smooth random image rescaled to [0.1, 0.9]: structure for SSIM to compare."""
    field = rng.standard_normal((channels, height, width))
    field = np.stack([ndi.gaussian_filter(plane, sigma, mode="wrap") for plane in field])
    lo, hi = field.min(), field.max()
    return (0.1 + 0.8 * (field - lo) / (hi - lo)).astype(np.float32)


def metric_pairs():
    """(name, truth, estimate, data_range) with float32 [C, H, W] images."""
    rng = np.random.default_rng(20250301)
    pairs = []

    truth = smooth_field(rng, 1, 32, 32, 2.0)
    estimate = np.clip(truth + 0.05 * rng.standard_normal(truth.shape), 0.0, 1.0).astype(np.float32)
    pairs.append(("grey_32x32", truth, estimate, 1.0))

    # Non-square, a blurred and noisy estimate, values not clipped (some leave [0, 1]).
    truth = smooth_field(rng, 1, 28, 40, 1.5)
    blurred = ndi.gaussian_filter(truth[0], 1.0, mode="nearest")[None]
    estimate = (blurred + 0.08 * rng.standard_normal(truth.shape)).astype(np.float32)
    pairs.append(("grey_28x40", truth, estimate, 1.0))

    # RGB with per-channel noise levels, so the channel average matters.
    truth = smooth_field(rng, 3, 32, 32, 2.5)
    noise = np.array([0.02, 0.06, 0.12])[:, None, None] * rng.standard_normal(truth.shape)
    estimate = np.clip(truth + noise, 0.0, 1.0).astype(np.float32)
    pairs.append(("rgb_32x32", truth, estimate, 1.0))

    # A flat truth against a noisy estimate: variance of one side is zero, SSIM is driven by C2.
    truth = np.full((1, 32, 32), 0.5, dtype=np.float32)
    estimate = (0.5 + 0.1 * rng.standard_normal(truth.shape)).astype(np.float32)
    pairs.append(("constant_vs_noisy_32x32", truth, estimate, 1.0))

    # The smallest accepted size (the cropped SSIM map is one row), non-square, in [-1, 1] with range 2.
    truth = (2.0 * smooth_field(rng, 1, 11, 13, 1.0) - 1.0).astype(np.float32)
    estimate = (truth + 0.1 * rng.standard_normal(truth.shape)).astype(np.float32)
    pairs.append(("grey_11x13_range2", truth, estimate, 2.0))

    return pairs


def disc_masks(height, width, radius_in, radius_out_lo, radius_out_hi):
    yy, xx = np.mgrid[0:height, 0:width]
    r = np.hypot(yy - (height - 1) / 2, xx - (width - 1) / 2)
    return r <= radius_in, (r >= radius_out_lo) & (r <= radius_out_hi)


def gcnr_cases():
    """(name, image, region_a, region_b, bins) with a float32 [H, W] image and boolean masks."""
    rng = np.random.default_rng(20250302)
    cases = []

    # Overlapping Gaussians: a darker disc inside a brighter ring.
    a, b = disc_masks(48, 48, 9.0, 13.0, 20.0)
    image = np.where(a, 0.35, 0.55) + 0.1 * rng.standard_normal((48, 48))
    cases.append(("gcnr_disc_48x48", image.astype(np.float32), a, b, 256))

    # Ultrasound-like speckle: Rayleigh amplitudes of two scales, unequal region sizes, 64 bins.
    a, b = disc_masks(40, 56, 7.0, 11.0, 26.0)
    image = rng.rayleigh(np.where(a, 0.25, 0.5), (40, 56))
    cases.append(("gcnr_speckle_40x56_bins64", image.astype(np.float32), a, b, 64))

    # Nearly separated, with a few outliers of region B inside A's range.
    a = np.zeros((24, 24), dtype=bool)
    a[:, :12] = True
    b = ~a
    image = np.where(a, 0.2, 0.8) + 0.05 * rng.standard_normal((24, 24))
    image[3, 15] = 0.2
    image[20, 18] = 0.25
    cases.append(("gcnr_halves_24x24", image.astype(np.float32), a, b, 256))

    return cases


def explicit_bin_counts(values, lo, hi, bins):
    """The binning rule the C# side implements, before numpy.histogram's ULP corrections."""
    k = ((values - lo) * (bins / (hi - lo))).astype(np.int64)
    k = np.minimum(k, bins - 1)
    return np.bincount(k, minlength=bins)


def gcnr(image, region_a, region_b, bins):
    xa = image[region_a].astype(np.float64)
    xb = image[region_b].astype(np.float64)
    lo = min(xa.min(), xb.min())
    hi = max(xa.max(), xb.max())
    ha = np.histogram(xa, bins=bins, range=(lo, hi))[0]
    hb = np.histogram(xb, bins=bins, range=(lo, hi))[0]
    for x, h in ((xa, ha), (xb, hb)):
        if not np.array_equal(explicit_bin_counts(x, lo, hi, bins), h):
            raise SystemExit("explicit binning differs from numpy.histogram")
    return 1.0 - np.minimum(ha / xa.size, hb / xb.size).sum()


def ssim(truth, estimate, data_range):
    return structural_similarity(truth, estimate, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=data_range, channel_axis=0)


def write_safetensors(path, tensors, metadata):
    """F32 tensors sorted by name; header JSON padded with spaces to a multiple of 8."""
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name], dtype="<f4")
        raw = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * ((-len(header_bytes)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for raw in chunks:
            f.write(raw)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=FIXTURE_DIR, help="output folder")
    args = parser.parse_args()

    tensors = {}
    expected = {
        "generator": "tools/make_metric_fixtures.py",
        "versions": {"scikit-image": skimage.__version__, "scipy": scipy.__version__, "numpy": np.__version__},
        "ssim_settings": "gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=0",
        "pairs": [],
        "gcnr": [],
    }

    print(f"scikit-image {skimage.__version__}, SciPy {scipy.__version__}, NumPy {np.__version__}")
    for name, truth, estimate, data_range in metric_pairs():
        t64, e64 = truth.astype(np.float64), estimate.astype(np.float64)
        psnr = peak_signal_noise_ratio(t64, e64, data_range=data_range)
        s = ssim(t64, e64, data_range)
        s32 = ssim(truth, estimate, data_range)
        if truth.shape[0] == 1:
            s2d = structural_similarity(t64[0], e64[0], gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=data_range)
            if s2d != s:
                raise SystemExit(f"{name}: channel_axis=0 SSIM {s!r} differs from the 2-D call {s2d!r}")
        if ssim(t64, t64, data_range) != 1.0:
            raise SystemExit(f"{name}: SSIM of an image with itself is not 1")
        tensors[f"{name}/truth"] = truth
        tensors[f"{name}/estimate"] = estimate
        c, h, w = truth.shape
        expected["pairs"].append({"name": name, "channels": c, "height": h, "width": w,
                                  "data_range": data_range, "psnr": float(psnr), "ssim": float(s)})
        print(f"{name:28s} PSNR {psnr:9.5f} dB  SSIM {s:.9f}  (float32 skimage: SSIM off by {abs(s32 - s):.1e})")

    for name, image, region_a, region_b, bins in gcnr_cases():
        value = gcnr(image, region_a, region_b, bins)
        tensors[f"{name}/image"] = image
        tensors[f"{name}/region_a"] = region_a.astype(np.float32)
        tensors[f"{name}/region_b"] = region_b.astype(np.float32)
        h, w = image.shape
        expected["gcnr"].append({"name": name, "height": h, "width": w, "bins": bins,
                                 "pixels_a": int(region_a.sum()), "pixels_b": int(region_b.sum()),
                                 "gcnr": float(value)})
        print(f"{name:28s} gCNR {value:.9f}  (|A| = {region_a.sum()}, |B| = {region_b.sum()}, {bins} bins)")

    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, IMAGES_FILE), tensors,
                      {"generator": "tools/make_metric_fixtures.py", "layout": "planar [C,H,W]; masks 0/1"})
    with open(os.path.join(args.out, EXPECTED_FILE), "w") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")
    print(f"wrote {IMAGES_FILE} and {EXPECTED_FILE} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
