#!/usr/bin/env python3
"""Times the PyTorch reference NCSNv2 (tools/make_ncsnv2_fixtures.py) for the ratio against `jointdiff bench`.

Same measurements as `jointdiff bench`: forward, forward + input VJP, forward + parameter gradients and a DSM
training step (noise, forward, loss, parameter gradients, global-norm clipping at 1, Adam, EMA: what
`DsmTrainer.TrainStep` does) (float32, random weights, median of --iterations runs after 2 warm-ups). Prints one
JSON object per config.

    /usr/bin/python3 benchmarks/pytorch_ncsnv2_bench.py --device cpu --threads 2 \
        --config 32:32:1:1 --config 32:32:1:8 --config 64:64:3:1 --config 64:64:3:8
Config = ngf:size:channels:batch. On a GPU machine use --device cuda.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from make_ncsnv2_fixtures import NCSNv2, score  # noqa: E402


def median_ms(fn, iterations, device):
    for _ in range(2):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    m = len(times) // 2
    return times[m] if len(times) % 2 else 0.5 * (times[m - 1] + times[m])


def bench(ngf, size, channels, batch, iterations, device):
    torch.manual_seed(1)
    model = NCSNv2(ngf, channels).to(device).float()
    x = torch.rand(batch, channels, size, size, device=device)
    v = torch.randn_like(x)
    sigma = torch.ones(batch, device=device)

    def fwd():
        with torch.no_grad():
            score(model, x, sigma)

    def fwd_vjp():
        xr = x.detach().requires_grad_(True)
        s = score(model, xr, sigma)
        torch.autograd.grad(s, xr, v)

    def fwd_grad():
        model.zero_grad(set_to_none=False)
        s = score(model, x, sigma)
        s.backward(v)

    for p in model.parameters():
        p.requires_grad_(False)
    t_fwd = median_ms(fwd, iterations, device)
    t_vjp = median_ms(fwd_vjp, iterations, device)
    for p in model.parameters():
        p.requires_grad_(True)
    t_grad = median_ms(fwd_grad, iterations, device)

    # DSM training step on a fixed batch, as jointdiff's: σ log-uniform here (the value does not change the work).
    train_model = NCSNv2(ngf, channels).to(device).float()
    adam = torch.optim.Adam(train_model.parameters(), lr=5e-4, betas=(0.9, 0.999), eps=1e-8)
    ema = [p.detach().clone() for p in train_model.parameters()]
    x0 = torch.rand(batch, channels, size, size, device=device)

    def train_step():
        adam.zero_grad(set_to_none=False)
        sig = torch.exp(torch.empty(batch, device=device).uniform_(-4.6, 3.9))
        z = torch.randn_like(x0)
        s = score(train_model, x0 + sig.view(-1, 1, 1, 1) * z, sig)
        r = s * sig.view(-1, 1, 1, 1) + z
        loss = 0.5 * (r * r).sum() / batch
        loss.backward()
        torch.nn.utils.clip_grad_norm_(train_model.parameters(), 1.0)
        adam.step()
        with torch.no_grad():
            for e, p in zip(ema, train_model.parameters()):
                e.mul_(0.999).add_(p, alpha=0.001)

    t_train = median_ms(train_step, iterations, device)
    return {
        "impl": "pytorch", "torch": torch.__version__, "device": device, "threads": torch.get_num_threads(),
        "ngf": ngf, "size": size, "channels": channels, "batch": batch,
        "fwd_ms": round(t_fwd, 3), "fwd_vjp_ms": round(t_vjp, 3), "fwd_param_grad_ms": round(t_grad, 3),
        "train_step_ms": round(t_train, 3),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0 keeps the default)")
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--config", action="append", default=[], help="ngf:size:channels:batch")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # Denormals: without flushing them, PyTorch's DSM step at ngf 64, 64x64x3 took 13.2 s against 3.3 s with it
    # (forward + gradients 3.5 s either way); a careful PyTorch user would flush them, so the comparison does.
    torch.set_flush_denormal(True)
    for cfg in args.config or ["32:32:1:8"]:
        ngf, size, channels, batch = (int(t) for t in cfg.split(":"))
        print(json.dumps(bench(ngf, size, channels, batch, args.iterations, args.device)), flush=True)


if __name__ == "__main__":
    main()
