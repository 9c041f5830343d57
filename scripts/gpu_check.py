#!/usr/bin/env python3
"""The fast path on a GPU machine, in one go, without cargo: prebuilt tchvision binaries carried
over, fixtures made here by this machine's torch (2.11).

Usage:
    python3 scripts/gpu_check.py [--bin target/release/tchvision] [--test-bin PATH] [--arch resnet50]

It prints, for ARCH on cuda:0:

1. parity: `tchvision run` (plain, fast fp32, fast fp16, fast bf16) against the same weights in
   torch on the GPU — torchvision's model when torchvision is installed, else an equivalent
   torch-only ResNet (same module tree, same state-dict keys). float32 is compared with TF32
   off on both sides (`tchvision` turns it off for fp32 on CUDA); limits: fp32 1e-4, fp16/bf16
   2e-2 of the output's largest magnitude, and the same top-1 per image.
2. throughput: `tchvision bench` (plain fp32, fast fp32/fp16/bf16) against torch eager fp32 and
   eager under torch.autocast(fp16 / bf16) with channels_last, at batch 1 and 32: images/s and
   the ratio ours / torch's (above 1: we are faster).
3. with --test-bin (the test binary of tests/infer.rs built by `cargo test --release --test
   infer --no-run`): its CUDA test, which compares the fast path with the plain model for three
   registry models in fp32, fp16 and bf16.

The binaries were linked against another copy of libtorch; this script points the loader at
this machine's torch (LD_LIBRARY_PATH=<torch>/lib), which must be the same version (2.11).
Exit status 0 when every parity check passes.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- the reference model: torchvision's, or the same ResNet in plain torch ---------------------

def torch_only_resnet(arch):
    """torchvision's ResNet-18/34/50/101/152 module tree in plain torch (same state-dict keys)."""
    nn = torch.nn
    layers, bottleneck = {
        "resnet18": ([2, 2, 2, 2], False),
        "resnet34": ([3, 4, 6, 3], False),
        "resnet50": ([3, 4, 6, 3], True),
        "resnet101": ([3, 4, 23, 3], True),
        "resnet152": ([3, 8, 36, 3], True),
    }[arch]
    expansion = 4 if bottleneck else 1

    class Block(nn.Module):
        def __init__(self, cin, planes, stride, down):
            super().__init__()
            if bottleneck:
                self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(planes)
                self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(planes)
                self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
                self.bn3 = nn.BatchNorm2d(planes * 4)
            else:
                self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(planes)
                self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            if down:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, planes * expansion, 1, stride, bias=False), nn.BatchNorm2d(planes * expansion)
                )
            else:
                self.downsample = None

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if bottleneck:
                out = self.bn3(self.conv3(self.relu(out)))
            return self.relu(out + idt)

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin = 64
            for i, (n, planes) in enumerate(zip(layers, [64, 128, 256, 512])):
                blocks = []
                for j in range(n):
                    stride = 2 if (i > 0 and j == 0) else 1
                    down = j == 0 and (stride != 1 or cin != planes * expansion)
                    blocks.append(Block(cin, planes, stride, down))
                    cin = planes * expansion
                setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512 * expansion, 1000)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet()


def reference(arch):
    try:
        import torchvision

        return getattr(torchvision.models, arch)(), "torchvision " + torchvision.__version__
    except ImportError:
        return torch_only_resnet(arch), "torch-only ResNet (torchvision not installed)"


# --- files ---------------------------------------------------------------------------------------

def read_safetensors(path):
    """The tensors of a .safetensors file (float32 only needed here), without the safetensors package."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=dtypes[v["dtype"]]) if b > a else torch.empty(0)
        out[k] = t.reshape(v["shape"]).clone()
    return out


def rel(a, b):
    a, b = a.double().cpu(), b.double().cpu()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


# --- main ----------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/tchvision"))
    ap.add_argument("--test-bin", default=None)
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--iters", type=int, default=30)
    args = ap.parse_args()

    lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = lib + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), libtorch for the binaries: {lib}")
    if not torch.cuda.is_available():
        print("no CUDA device visible to torch: nothing to check")
        return 1
    print(f"device: {torch.cuda.get_device_name(0)}")
    dev = torch.device("cuda:0")

    def tv(*a, check=True):
        r = subprocess.run([args.bin, *a], env=env, capture_output=True, text=True)
        if check and r.returncode != 0:
            raise SystemExit(f"tchvision {' '.join(a)} failed ({r.returncode}):\n{r.stderr}")
        return r

    r = tv("bench", args.arch, "--device", "cuda", "--iters", "1", "--warmup", "0", "--input-size", "64,64")
    print(r.stdout.strip().splitlines()[0], "| stderr:", r.stderr.strip() or "-")

    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        # Fixtures: seeded weights with non-trivial BatchNorm statistics, an input batch.
        torch.manual_seed(0)
        model, what = reference(args.arch)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
        model.eval()
        weights = os.path.join(tmp, "w.pth")
        torch.save(model.state_dict(), weights)
        x = torch.randn(4, 3, 224, 224)
        xin = os.path.join(tmp, "x.pth")
        torch.save(x, xin)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        model = model.to(dev)
        with torch.no_grad():
            want = model(x.to(dev)).float()
        print(f"\n1. parity on the GPU: {args.arch}, input {list(x.shape)}, reference: {what}, float32 without TF32")
        for name, extra, tol in [
            ("plain fp32", ["--no-optimize"], 1e-4),
            ("fast fp32", [], 1e-4),
            ("fast fp16", ["--precision", "fp16"], 2e-2),
            ("fast bf16", ["--precision", "bf16"], 2e-2),
        ]:
            out = os.path.join(tmp, "out.safetensors")
            r = tv("run", args.arch, "--weights", weights, "--input", xin, "--output", out, "--device", "cuda", *extra,
                   check=False)
            if r.returncode != 0:
                print(f"  {name:<11} FAILED to run: {r.stderr.strip()}")
                failures.append(name)
                continue
            got = read_safetensors(out)["output"]
            e = rel(got, want)
            top1 = bool((got.argmax(-1) == want.cpu().argmax(-1)).all())
            ok = e <= tol and top1
            if not ok:
                failures.append(name)
            print(f"  {name:<11} max rel err {e:.2e} (limit {tol:.0e}), same top-1: {top1}  {'ok' if ok else 'FAIL'}")
        torch.backends.cudnn.allow_tf32 = True

        # Throughput.
        print(f"\n2. throughput, {args.arch} 224x224 on the GPU, images/s ({args.iters} timed passes, medians)")
        cl = model.to(memory_format=torch.channels_last)

        def torch_ips(b, dtype, tf32):
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32
            xb = torch.randn(b, 3, 224, 224, device=dev)
            m = model if dtype is None else cl
            if dtype is not None:
                xb = xb.contiguous(memory_format=torch.channels_last)
            ts = []
            with torch.inference_mode(), torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
                for i in range(args.iters + 10):
                    torch.cuda.synchronize()
                    t = time.perf_counter()
                    m(xb)
                    torch.cuda.synchronize()
                    if i >= 10:
                        ts.append(time.perf_counter() - t)
            ts.sort()
            return b / ts[len(ts) // 2]

        def ours_ips(b, extra):
            r = tv("bench", args.arch, "--device", "cuda", "--batch", str(b), "--iters", str(args.iters), "--warmup", "10",
                   "--json", *extra, check=False)
            if r.returncode != 0:
                print(f"  tchvision bench {' '.join(extra)} failed: {r.stderr.strip()}")
                return float("nan")
            for line in r.stderr.strip().splitlines():
                print(f"  note: {line}")
            return json.loads(r.stdout)["images_per_s"]

        print(f"  {'batch':>5} {'ours':<14} {'images/s':>10}   {'torch':<26} {'images/s':>10} {'ours/torch':>10}")
        for b in [int(s) for s in args.batches.split(",")]:
            rows = [
                ("plain fp32", ["--no-optimize"], "eager fp32 (no TF32)", None, False),
                ("fast fp32", [], "eager fp32 (no TF32)", None, False),
                ("fast fp16", ["--precision", "fp16"], "eager autocast fp16 CL", torch.float16, True),
                ("fast bf16", ["--precision", "bf16"], "eager autocast bf16 CL", torch.bfloat16, True),
            ]
            cache = {}
            for name, extra, tname, dtype, tf32 in rows:
                o = ours_ips(b, extra)
                key = (dtype, tf32)
                if key not in cache:
                    cache[key] = torch_ips(b, dtype, tf32)
                t = cache[key]
                print(f"  {b:>5} {name:<14} {o:>10.1f}   {tname:<26} {t:>10.1f} {o / t:>10.2f}")

    if args.test_bin:
        print("\n3. tests/infer.rs on the GPU (cuda_fast_path_matches_the_plain_model):")
        r = subprocess.run([args.test_bin, "cuda", "--nocapture", "--test-threads", "1"], env=env, capture_output=True,
                           text=True)
        print(r.stdout[-3000:], r.stderr[-3000:])
        if r.returncode != 0:
            failures.append("tests/infer.rs cuda")
    print("\nparity:", "all ok" if not failures else "FAILED: " + ", ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
