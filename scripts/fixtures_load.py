"""Fixtures for checkpoint loading (tests/load.rs, tests/cli_checkpoint.rs): OUTDIR/load/.

A small CNN (`SmallNet`: conv1, bn1, layer1 = Sequential(Conv2d, BatchNorm2d, ReLU), fc) with
seeded random weights and running statistics, saved by torch itself in the ways people meet:

* small.pth            torch.save(model.state_dict())                     (zip format)
* small_legacy.pth     the same with _use_new_zipfile_serialization=False  (legacy format)
* small_module.pth     nn.DataParallel(model).state_dict()                 (keys `module.…`)
* small_nested.pth     {'state_dict': sd, 'epoch': 7, 'best_acc1': 0.5, 'arch': 'smallnet'}
* small.safetensors    safetensors.torch.save_file(sd, metadata={'format': 'pt'})
* small_f16.pth, small_f64.pth   the float tensors as float16 / float64
* small_f16_as_f32.safetensors, small_f64_as_f32.safetensors   torch's own .float() of those
* dtypes.safetensors, dtypes.pth, dtypes.json   one small tensor of every dtype, values in JSON
* *.json               for each file: torch's keys, dtypes, shapes and bytes of its state dict
"""
import json

import torch
import torch.nn as nn
from safetensors.torch import save_file


class SmallNet(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def describe(sd):
    return {
        "keys": list(sd.keys()),
        "tensors": [
            {"key": k, "dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape),
             "bytes": v.numel() * v.element_size()}
            for k, v in sd.items()
        ],
    }


def main(outdir):
    out = outdir / "load"
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = SmallNet(1000)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_()
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(17)
    sd = model.state_dict()

    def save(name, obj, **kw):
        torch.save(obj, out / name, **kw)

    save("small.pth", sd)
    save("small_legacy.pth", sd, _use_new_zipfile_serialization=False)
    save("small_module.pth", nn.DataParallel(model).state_dict())
    save("small_nested.pth", {"state_dict": sd, "epoch": 7, "best_acc1": 0.5, "arch": "smallnet"})
    save_file({k: v.contiguous() for k, v in sd.items()}, str(out / "small.safetensors"), metadata={"format": "pt"})
    (out / "small.json").write_text(json.dumps(describe(sd), indent=1))
    (out / "small_module.json").write_text(json.dumps(describe(nn.DataParallel(model).state_dict()), indent=1))

    for name, dt in [("f16", torch.float16), ("f64", torch.float64)]:
        low = {k: (v.to(dt) if v.is_floating_point() else v) for k, v in sd.items()}
        save(f"small_{name}.pth", low)
        as_f32 = {k: (v.float() if v.is_floating_point() else v) for k, v in low.items()}
        save_file(as_f32, str(out / f"small_{name}_as_f32.safetensors"))
        (out / f"small_{name}.json").write_text(json.dumps(describe(low), indent=1))

    # One tensor of every dtype, with values every dtype represents exactly.
    base = torch.tensor([[0.0, 1.0, -2.0], [3.5, -0.25, 100.0]])
    dts = {
        "float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
        "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32, "int16": torch.int16,
        "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool, "complex64": torch.complex64,
    }
    tensors, values = {}, {}
    for name, dt in dts.items():
        if dt == torch.uint8:
            t = base.abs().to(dt)
        elif dt == torch.complex64:
            t = torch.complex(base, -base * 2)
        else:
            t = base.to(dt)
        tensors[name] = t
        if t.is_complex():
            values[name] = {"real": t.real.double().flatten().tolist(), "imag": t.imag.double().flatten().tolist()}
        else:
            values[name] = {"real": t.double().flatten().tolist()}
        values[name]["shape"] = list(t.shape)
    tensors["empty"] = torch.zeros(0, 4)
    values["empty"] = {"real": [], "shape": [0, 4]}
    tensors["scalar"] = torch.tensor(2.5)
    values["scalar"] = {"real": [2.5], "shape": []}
    save_file(tensors, str(out / "dtypes.safetensors"))
    torch.save(tensors, out / "dtypes.pth")
    (out / "dtypes.json").write_text(json.dumps({"values": values, **describe(tensors)}, indent=1))
