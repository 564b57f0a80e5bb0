#!/usr/bin/env bash
# NCSNv2 forward, forward + input VJP, forward + parameter gradients and a DSM training step: jointdiff (SIMD CPU backend) against
# PyTorch on the same machine, same configs, in one run. Each config runs PAIRS back-to-back pairs (PyTorch, then
# jointdiff, ITERATIONS timed runs each) and prints the medians over pairs and the median of the per-pair ratios,
# which shrugs off a noisy minute better than one pair does.
# Usage: bash benchmarks/network-vs-pytorch.sh [iterations] [pairs] [configs...]
#   configs as ngf:size:channels:batch, default 32:32:1:1 32:32:1:8 64:64:3:1 64:64:3:8
#   (needs Debian's python3-torch for the PyTorch side)
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-10}
pairs=${2:-3}
shift $(( $# > 2 ? 2 : $# ))
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=(32:32:1:1 32:32:1:8 64:64:3:1 64:64:3:8)
dotnet build src/JointDiffusion.Cli -c Release -v quiet --nologo >/dev/null
jd="dotnet src/JointDiffusion.Cli/bin/Release/net10.0/jointdiff.dll"
echo "| config | jointdiff fwd / fwd+VJP / fwd+grads / DSM step (ms, median of $pairs) | PyTorch fwd / fwd+VJP / fwd+grads / DSM step (ms, median of $pairs) | speed-up fwd / VJP / grads / DSM step (median of per-pair ratios) |"
echo "|---|---|---|---|"
for c in "${configs[@]}"; do
  IFS=: read -r ngf size ch batch <<<"$c"
  runs=()
  for ((p = 0; p < pairs; p++)); do
    runs+=("$(/usr/bin/python3 benchmarks/pytorch_ncsnv2_bench.py --device cpu --threads "$(nproc)" --iterations "$iters" --config "$c")")
    runs+=("$($jd bench --device cpu --ngf "$ngf" --size "$size" --channels "$ch" --batch "$batch" --iterations "$iters" --json)")
  done
  /usr/bin/python3 - "${runs[@]}" <<'PY'
import json, statistics, sys
rows = [json.loads(a) for a in sys.argv[1:]]
torch, ours = rows[0::2], rows[1::2]
keys = ["fwd_ms", "fwd_vjp_ms", "fwd_param_grad_ms", "train_step_ms"]
med = lambda rs, k: statistics.median(r[k] for r in rs)
ratio = lambda k: statistics.median(t[k] / o[k] for t, o in zip(torch, ours))
o = ours[0]
cfg = f"ngf {o['ngf']}, {o['size']}x{o['size']}x{o['channels']}, batch {o['batch']}"
print(f"| {cfg} | " + " / ".join(f"{med(ours, k):.1f}" for k in keys) + " | " + " / ".join(f"{med(torch, k):.1f}" for k in keys)
      + f" (torch {torch[0]['torch']}) | " + " / ".join(f"{ratio(k):.2f}x" for k in keys) + " |")
PY
done
