#!/usr/bin/env python3
"""Benchmark: reading a resnet50 state dict into tensors, tchvision against torch.

    cargo build --release --example bench_load
    $PY scripts/bench_load.py [--runs 7] [--bin target/release/examples/bench_load]

Makes target/bench/resnet50.pth (torchvision's resnet50, seeded random weights, ~100 MB, saved
with torch.save) and the same state dict as target/bench/resnet50.safetensors, warms the page
cache, then times, each run in a fresh process (alternating, so drift hits all alike):

* ours eager: tchvision's read_pth (examples/bench_load.rs), every storage copied in
* ours mmap:   read_pth with ReadOptions::mmap (lazy: tensors are views of a private map)
* torch:       torch.load(f, weights_only=True)
* torch mmap:  torch.load(f, weights_only=True, mmap=True) (lazy: pages are read on first use)
* and for safetensors: tchvision's safetensors::read (eager) and read_mapped (lazy) against
  safetensors.torch.load_file (lazy: its tensors are views of a memory map)

Time is the wall time of the load call alone (process start and `import torch` excluded);
memory is the peak resident set size during the load above the one just before it (VmHWM reset
through /proc/self/clear_refs). Prints medians, the time ratio and memory / file size.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PY_PROBE = r"""
import json, sys, time
import torch
kind, path = sys.argv[1], sys.argv[2]
if kind == "st":
    from safetensors.torch import load_file
torch.zeros(1)
def kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = kb("VmRSS:")
t0 = time.perf_counter()
if kind == "torch":
    sd = torch.load(path, weights_only=True)
elif kind == "mmap":
    sd = torch.load(path, weights_only=True, mmap=True)
else:
    sd = load_file(path)
dt = time.perf_counter() - t0
peak = kb("VmHWM:")
print(json.dumps({"seconds": dt, "base_kb": base, "peak_kb": peak, "tensors": len(sd)}))
"""


def make_files(outdir):
    import torch
    import torchvision
    from safetensors.torch import save_file

    pth, st = outdir / "resnet50.pth", outdir / "resnet50.safetensors"
    if not pth.exists() or not st.exists():
        outdir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        sd = torchvision.models.resnet50().state_dict()
        torch.save(sd, pth)
        save_file({k: v.contiguous() for k, v in sd.items()}, str(st))
    for p in (pth, st):  # warm the page cache
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass
    return pth, st


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "examples" / "bench_load"))
    args = ap.parse_args()
    if not Path(args.bin).exists():
        sys.exit(f"{args.bin} not found: cargo build --release --example bench_load")
    pth, st = make_files(ROOT / "target" / "bench")
    size_mb = pth.stat().st_size / 1e6
    py = sys.executable
    cases = {
        "ours eager": [args.bin, str(pth), "pth"],
        "ours mmap": [args.bin, str(pth), "pth-mmap"],
        "torch.load": [py, "-c", PY_PROBE, "torch", str(pth)],
        "torch.load mmap": [py, "-c", PY_PROBE, "mmap", str(pth)],
        "ours safetensors": [args.bin, str(st), "safetensors"],
        "ours safetensors mapped": [args.bin, str(st), "safetensors-mapped"],
        "safetensors load_file": [py, "-c", PY_PROBE, "st", str(st)],
    }
    for cmd in cases.values():  # one warm-up each
        run(cmd)
    res = {k: [] for k in cases}
    for _ in range(args.runs):
        for k, cmd in cases.items():
            res[k].append(run(cmd))
    med = {}
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"file: {pth} ({size_mb:.1f} MB), {args.runs} runs each, page cache warm, cpus={os.cpu_count()}, "
          f"load average {load}")
    print(f"{'case':24} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'peak MB above base':>19} {'/ file size':>11}")
    for k, rs in res.items():
        ts = [r["seconds"] * 1e3 for r in rs]
        t = statistics.median(ts)
        mem = statistics.median((r["peak_kb"] - r["base_kb"]) * 1024 / 1e6 for r in rs)
        med[k] = (t, mem)
        print(f"{k:24} {t:10.2f} {min(ts):8.2f} {max(ts):8.2f} {mem:19.1f} {mem / size_mb:11.2f}")

    def ratio(slow, fast):
        return med[slow][0] / med[fast][0]

    print(f"ours eager vs torch.load(weights_only=True):           {ratio('torch.load', 'ours eager'):7.2f}x faster"
          " (target >= 3x)")
    print(f"ours mmap  vs torch.load(weights_only=True, mmap=True): {ratio('torch.load mmap', 'ours mmap'):7.2f}x faster")
    print(f"ours mmap  vs torch.load(weights_only=True):           {ratio('torch.load', 'ours mmap'):7.2f}x faster")
    print(f"ours eager vs torch.load(weights_only=True, mmap=True): {ratio('torch.load mmap', 'ours eager'):7.2f}x faster")
    print(f"safetensors::read vs load_file:                        {ratio('safetensors load_file', 'ours safetensors'):7.2f}x")
    print(f"safetensors::read_mapped vs load_file:                 "
          f"{ratio('safetensors load_file', 'ours safetensors mapped'):7.2f}x")
    for k in ("ours eager", "ours mmap", "torch.load", "torch.load mmap"):
        print(f"peak memory above baseline / file size, {k:16} {med[k][1] / size_mb:5.2f}"
              + (" (target <= 1.2)" if k.startswith("ours") else ""))

if __name__ == "__main__":
    main()
