#!/usr/bin/env python3
"""The Python side of examples/bench_forward.rs: torchvision models' forward on CPU, eval, timed
three ways in one process:

  eager          float32, under inference_mode
  eager_bf16_cl  bfloat16 weights and input, channels_last, under inference_mode
  torchscript    torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
  torchscript_onednn_graph
                 torch.jit.freeze(torch.jit.trace(model, x)) warmed up (its graph optimised) with
                 torch.jit.enable_onednn_fusion(True), oneDNN Graph fusion

Prints one JSON object: {variant: {model: {batch: [seconds...]}}}, plus "bf16_check":
{model: {batch: {"rel_err": max|bf16 - fp32| / max|fp32|, "top1_equal": bool}}} for the
eager bf16 logits against eager float32 on the same input.

Usage: bench_forward.py THREADS WARMUP RUNS MODELS BATCHES [H W]
  MODELS and BATCHES comma-separated (resnet50,mobilenet_v3_large 1,8).

    bench_forward.py --profile MODEL BATCH VARIANT [THREADS]
prints torch.profiler's table of the VARIANT (eager, eager_bf16_cl, torchscript,
torchscript_bf16_cl) by operator, self CPU time first: what a forward spends its time on.
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


def variants(name, b, h, w):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)().eval()
    with torch.no_grad():  # ViT's head starts at zero: its logits would all be 0
        for p in model.parameters():
            if not p.any():
                p.uniform_(-0.1, 0.1)
    x = torch.randn(b, 3, h, w)
    out = {"eager": (model, x)}
    mb = getattr(torchvision.models, name)().eval()
    mb.load_state_dict(model.state_dict())
    mb = mb.to(torch.bfloat16, memory_format=torch.channels_last)
    xb = x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    out["eager_bf16_cl"] = (mb, xb)
    with torch.no_grad():
        ts = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
        out["torchscript"] = (ts, x)
        tb = torch.jit.freeze(torch.jit.trace(mb, xb))
        out["torchscript_bf16_cl"] = (tb, xb)
        tg = torch.jit.freeze(torch.jit.trace(model, x))
        # The fuser runs when the executor optimises the graph (after its profiling run); on
        # only for that, as tchvision does, so the other modules stay as they are.
        torch.jit.enable_onednn_fusion(True)
        for _ in range(2):
            tg(x)
        torch.jit.enable_onednn_fusion(False)
        out["torchscript_onednn_graph"] = (tg, x)
    return out


def profile(name, b, variant, threads):
    torch.set_num_threads(threads)
    f, x = variants(name, b, 224, 224)[variant]
    with torch.inference_mode() if variant.startswith("eager") else torch.no_grad():
        for _ in range(3):
            f(x)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(3):
                f(x)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


def main():
    if sys.argv[1] == "--profile":
        threads = int(sys.argv[5]) if len(sys.argv) > 5 else torch.get_num_threads()
        return profile(sys.argv[2], int(sys.argv[3]), sys.argv[4], threads)
    threads, warmup, runs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    models = sys.argv[4].split(",")
    batches = [int(b) for b in sys.argv[5].split(",")]
    h, w = (int(sys.argv[6]), int(sys.argv[7])) if len(sys.argv) > 7 else (224, 224)
    torch.set_num_threads(threads)
    timed = ("eager", "eager_bf16_cl", "torchscript", "torchscript_onednn_graph")
    res = {k: {} for k in timed + ("bf16_check",)}
    for name in models:
        for k in res:
            res[k][name] = {}
        for b in batches:
            v = variants(name, b, h, w)
            for k in timed:
                f, x = v[k]
                ctx = torch.inference_mode() if k.startswith("eager") else torch.no_grad()
                with ctx:
                    res[k][name][b] = timeit(f, x, warmup, runs)
            with torch.inference_mode():
                y32 = v["eager"][0](v["eager"][1])
                y16 = v["eager_bf16_cl"][0](v["eager_bf16_cl"][1]).float()
            rel = ((y16 - y32).abs().max() / y32.abs().max()).item()
            res["bf16_check"][name][b] = {"rel_err": rel, "top1_equal": bool((y16.argmax(-1) == y32.argmax(-1)).all())}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
