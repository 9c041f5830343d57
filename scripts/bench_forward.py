#!/usr/bin/env python3
"""The Python side of examples/bench_forward.rs: torchvision resnet50 forward on CPU, eval,
224x224, timed eagerly under inference_mode and as TorchScript (trace, freeze,
optimize_for_inference). Prints one JSON object: {"eager": {batch: [seconds...]}, "torchscript": {...}}.

Usage: bench_forward.py THREADS WARMUP RUNS BATCH...
"""
import json
import sys
import time

import torch
import torchvision


def timeit(fn, x, warmup, runs):
    for _ in range(warmup):
        fn(x)
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn(x)
        out.append(time.perf_counter() - t)
    return out


def main():
    threads, warmup, runs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    batches = [int(b) for b in sys.argv[4:]]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torchvision.models.resnet50().eval()
    res = {"eager": {}, "torchscript": {}}
    for b in batches:
        x = torch.randn(b, 3, 224, 224)
        with torch.inference_mode():
            res["eager"][b] = timeit(model, x, warmup, runs)
        with torch.no_grad():
            ts = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
            res["torchscript"][b] = timeit(ts, x, warmup, runs)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
