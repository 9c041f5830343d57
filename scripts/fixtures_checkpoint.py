"""Fixtures for the .pth reader and writer (src/checkpoint/{pickle,pth,writer}.rs).

Writes under OUTDIR/checkpoint/:
  <name>.pth            a checkpoint written by torch.save (or crafted as an old torch wrote it)
  <name>.safetensors    the tensors torch.load reads back from it (contiguous clones; dtypes tch's
                        safetensors reader lacks, complex and float8, as their raw bytes in uint8)
  <name>.json           what a reader must report: format, keys in order, dtypes, shapes, the
                        non-tensor entries with their Python type names, the state-dict key, and
                        the groups of keys that share one storage
  hostile_*.pth         crafted pickles referencing forbidden globals (hostile.json names them);
                        torch.load(weights_only=True) is checked to refuse each
  corrupt_*.pth         truncated files and storages shorter than their tensors claim; torch.load
                        is checked to fail on each

The oracle is torch.load itself: every expected value is what torch.load returns for the file.
"""
import collections
import io
import json
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import save_file

TCH_DTYPES = {
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
    torch.int16, torch.int8, torch.uint8, torch.bool,
}


def dtype_name(dt):
    return str(dt).removeprefix("torch.")


def load_oracle(path, weights_only=True):
    return torch.load(path, map_location="cpu", weights_only=weights_only)


def describe(obj, sd_key, strip=True):
    """What a reader reports for a loaded checkpoint (mirrors ReadOptions' defaults)."""
    if sd_key is None:
        sd, other = obj, []
    else:
        sd = obj
        for part in sd_key.split("."):
            sd = sd[part]
        first = sd_key.split(".")[0]
        other = [[str(k), type(v).__name__] for k, v in obj.items() if k != first]
    tensors = [(str(k), v) for k, v in sd.items() if isinstance(v, torch.Tensor)]
    inner = [[str(k), type(v).__name__] for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if strip and tensors and all(k.startswith("module.") for k, _ in tensors):
        tensors = [(k[len("module."):], v) for k, v in tensors]
        inner = [[k.removeprefix("module."), t] for k, t in inner]
    return tensors, other + inner


def record(out, name, fmt, obj, sd_key=None):
    tensors, other = describe(obj, sd_key)
    stored, groups = {}, collections.OrderedDict()
    for k, t in tensors:
        if t.dtype in TCH_DTYPES:
            stored[k] = t.detach().clone().contiguous()
        else:
            stored[k] = t.detach().clone().contiguous().reshape(-1).view(torch.uint8)
        if t.numel() > 0:
            groups.setdefault(t.untyped_storage().data_ptr(), []).append(k)
    save_file(stored, str(out / f"{name}.safetensors"))
    meta = {
        "format": fmt,
        "keys": [k for k, _ in tensors],
        "dtypes": [dtype_name(t.dtype) for _, t in tensors],
        "shapes": [list(t.shape) for _, t in tensors],
        "raw": [t.dtype not in TCH_DTYPES for _, t in tensors],
        "other": other,
        "state_dict_key": sd_key,
        "shared": [g for g in groups.values() if len(g) > 1],
    }
    (out / f"{name}.json").write_text(json.dumps(meta, indent=1))


def full_state_dict():
    """Every dtype, views with strides and offsets, tied weights, special float values."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 8, generator=g)
    tied = torch.randn(4, 3, generator=g)
    sd = collections.OrderedDict()
    sd["f32"] = torch.randn(3, 4, generator=g)
    sd["f64"] = torch.randn(5, generator=g, dtype=torch.float64)
    sd["f16"] = torch.randn(2, 3, generator=g).half()
    sd["bf16"] = torch.randn(2, 3, generator=g).bfloat16()
    sd["i64"] = torch.randint(-(2**40), 2**40, (4,), generator=g)
    sd["i32"] = torch.randint(-(2**31), 2**31 - 1, (4,), generator=g, dtype=torch.int32)
    sd["i16"] = torch.randint(-(2**15), 2**15 - 1, (2, 2), generator=g, dtype=torch.int16)
    sd["i8"] = torch.randint(-128, 127, (5,), generator=g, dtype=torch.int8)
    sd["u8"] = torch.randint(0, 255, (5,), generator=g, dtype=torch.uint8)
    sd["bool"] = torch.rand(7, generator=g) > 0.5
    sd["c64"] = torch.randn(3, generator=g, dtype=torch.complex64)
    sd["c128"] = torch.randn(2, generator=g, dtype=torch.complex128)
    sd["special"] = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 1e-45])
    sd["scalar"] = torch.tensor(3.5)
    sd["num_batches_tracked"] = torch.tensor(7)
    sd["empty"] = torch.zeros(0, 3)
    sd["base"] = base
    sd["transposed"] = base.t()
    sd["stepped"] = base[::2, 1::3]
    sd["offset"] = base[2:]
    sd["tied_a"] = tied
    sd["tied_b"] = tied
    sd["tied_view"] = tied[1:, ::2]
    sd._metadata = collections.OrderedDict({"": {"version": 1}})
    return sd


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def small_model():
    torch.manual_seed(0)
    m = Net()
    m.train()
    m(torch.randn(2, 3, 8, 8))  # moves running stats and num_batches_tracked
    return m


def save_cuda_tagged(obj, path, **kw):
    """torch.save with every storage tagged 'cuda:0', as a GPU machine writes it, on CPU."""
    real = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: "cuda:0"
    try:
        torch.save(obj, path, **kw)
    finally:
        torch.serialization.location_tag = real


class _Storage:
    """A storage as a GPU machine's torch pickled it: its class and device are written by hand."""

    def __init__(self, key, cls, location, data):
        self.key, self.cls, self.location, self.data = key, cls, location, data


class _Tensor:
    """A tensor as torch pickles it: `_rebuild_tensor_v2(storage, offset, size, stride, False, {})`."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


def make_legacy_cuda(path):
    """A legacy-format (pre-1.6, non-zip) checkpoint of CUDA tensors, written byte by byte as
    torch's _legacy_save writes one on a GPU machine, but by hand (no GPU needed): the storages are
    persistent ids ('storage', torch.cuda.<Type>Storage, key, 'cuda:N', numel, None), as older
    torch named the storage class of a CUDA tensor, on two devices; then the sorted storage keys
    and each storage as an int64 element count and its raw little-endian bytes."""
    g = torch.Generator().manual_seed(7)
    w = torch.randn(6, generator=g)
    idx = torch.arange(5, dtype=torch.int64) * 3 - 4
    h = torch.randn(4, generator=g).half()
    s0 = _Storage("0", torch.cuda.FloatStorage, "cuda:0", w)
    s1 = _Storage("1", torch.cuda.LongStorage, "cuda:1", idx)
    s2 = _Storage("2", torch.cuda.HalfStorage, "cuda:0", h)
    sd = collections.OrderedDict(
        weight=_Tensor(s0, 0, [3, 2], [2, 1]),
        weight_t=_Tensor(s0, 0, [2, 3], [1, 2]),  # a view of the same storage
        tail=_Tensor(s0, 4, [2], [1]),
        idx=_Tensor(s1, 0, [5], [1]),
        half=_Tensor(s2, 0, [2, 2], [2, 1]),
    )
    storages = {}

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                storages[obj.key] = obj
                return ("storage", obj.cls, obj.key, obj.location, obj.data.numel(), None)
            return None

    f = io.BytesIO()
    pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)  # torch.serialization.MAGIC_NUMBER
    pickle.dump(1001, f, protocol=2)  # PROTOCOL_VERSION
    pickle.dump({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 8}}, f, protocol=2)
    Pickler(f, protocol=2).dump(sd)
    keys = sorted(storages)
    pickle.dump(keys, f, protocol=2)
    for k in keys:
        data = storages[k].data
        f.write(struct.pack("<q", data.numel()))
        f.write(data.contiguous().view(torch.uint8).numpy().tobytes())
    Path(path).write_bytes(f.getvalue())


def make_tar(path, sd):
    """A checkpoint in the tar format of PyTorch < 0.4 (torch/serialization.py's legacy_load
    reads it): members sys_info, pickle, tensors, storages."""
    storages, storage_keys, tensors = collections.OrderedDict(), {}, collections.OrderedDict()
    for name, t in sd.items():
        ptr = t.untyped_storage().data_ptr()
        if ptr not in storage_keys:
            storage_keys[ptr] = len(storage_keys) + 1
            flat = torch.empty(0, dtype=t.dtype).set_(t.untyped_storage())
            storages[storage_keys[ptr]] = flat
        tensors[1000 + len(tensors)] = (t, storage_keys[ptr])
    tensor_key = {id(t): k for k, (t, _) in tensors.items()}

    storage_class = {torch.float32: torch.FloatStorage, torch.float64: torch.DoubleStorage,
                     torch.int64: torch.LongStorage, torch.uint8: torch.ByteStorage}
    tensor_class = {torch.float32: torch.FloatTensor, torch.float64: torch.DoubleTensor,
                    torch.int64: torch.LongTensor, torch.uint8: torch.ByteTensor}
    sb = io.BytesIO()
    pickle.dump(len(storages), sb, protocol=2)
    for key, flat in storages.items():
        pickle.dump((key, "cpu", storage_class[flat.dtype]), sb, protocol=2)
        sb.write(struct.pack("<q", flat.numel()))
        sb.write(flat.reshape(-1).view(torch.uint8).numpy().tobytes())
    pickle.dump([], sb, protocol=2)

    tb = io.BytesIO()
    pickle.dump(len(tensors), tb, protocol=2)
    for key, (t, skey) in tensors.items():
        pickle.dump((key, skey, tensor_class[t.dtype]), tb, protocol=2)
        tb.write(struct.pack("<i", t.dim()) + b"\0" * 4)
        tb.write(struct.pack(f"<{t.dim()}q", *t.shape))
        tb.write(struct.pack(f"<{t.dim()}q", *t.stride()))
        tb.write(struct.pack("<q", t.storage_offset()))

    class TarPickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, torch.Tensor):
                return str(tensor_key[id(obj)])
            return None

    pb = io.BytesIO()
    TarPickler(pb, protocol=2).dump(sd)
    sys_info = {"protocol_version": 1001, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 8}}
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [("sys_info", pickle.dumps(sys_info, protocol=2)), ("pickle", pb.getvalue()),
                           ("tensors", tb.getvalue()), ("storages", sb.getvalue())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def rezip(src, dst, transform=lambda name, data: data, compression=zipfile.ZIP_STORED):
    """Rewrites a torch zip checkpoint record by record (names kept), transforming records."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression=compression) as zout:
        for info in zin.infolist():
            data = transform(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)


def must_fail(path, **kw):
    try:
        torch.load(path, map_location="cpu", **kw)
    except Exception:
        return
    raise AssertionError(f"torch.load accepted {path}")


def main(outdir):
    out = Path(outdir) / "checkpoint"
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)

    # Every dtype and view, both formats, pickle protocols 2 to 5. torch's weights-only
    # unpickler only knows protocol 2's opcodes, so protocols 3-5 are read back unrestricted
    # (these are our own files).
    sd = full_state_dict()
    for fmt in ["zip", "legacy"]:
        for proto in [2, 3, 4, 5]:
            name = f"full_{fmt}_p{proto}"
            p = out / f"{name}.pth"
            torch.save(sd, p, pickle_protocol=proto, _use_new_zipfile_serialization=(fmt == "zip"))
            record(out, name, fmt, load_oracle(p, weights_only=(proto == 2)))

    # A real model's state dict (BatchNorm's int64 num_batches_tracked, _metadata), both formats.
    model = small_model()
    for fmt in ["zip", "legacy"]:
        p = out / f"model_{fmt}.pth"
        torch.save(model.state_dict(), p, _use_new_zipfile_serialization=(fmt == "zip"))
        record(out, f"model_{fmt}", fmt, load_oracle(p))

    # Nested checkpoints: DataParallel keys (`module.`), optimizer state, other entries.
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    dp = nn.DataParallel(model)
    nested = {"epoch": 3, "arch": "net", "state_dict": dp.state_dict(), "optimizer": opt.state_dict(),
              "best_acc1": torch.tensor(0.75), "lr": 0.1, "args": None, "done": True}
    torch.save(nested, out / "nested_state_dict.pth")
    record(out, "nested_state_dict", "zip", load_oracle(out / "nested_state_dict.pth"), "state_dict")
    for key in ["model", "model_state_dict", "net"]:
        obj = {"epoch": 1, key: model.state_dict(), "history": [0.5, 0.25]}
        torch.save(obj, out / f"nested_{key}.pth")
        record(out, f"nested_{key}", "zip", load_oracle(out / f"nested_{key}.pth"), key)
    obj = {"step": 10, "ema": {"decay": 0.999, "model": model.state_dict()}}
    torch.save(obj, out / "nested_dotted.pth")
    record(out, "nested_dotted", "zip", load_oracle(out / "nested_dotted.pth"), "ema.model")

    # Parameters, parameters with attributes (_rebuild_parameter_with_state) and tensors with
    # attributes (_rebuild_from_type_v2); float8 through _rebuild_tensor_v3.
    p1 = nn.Parameter(torch.randn(3))
    p2 = nn.Parameter(torch.randn(2, 2))
    p2.tag = "x"
    t3 = torch.randn(4)
    t3.note = 1
    params = collections.OrderedDict(p=p1, q=p2, t=t3, f8=torch.randn(5).to(torch.float8_e4m3fn),
                                     f8b=torch.randn(2, 2).to(torch.float8_e5m2))
    torch.save(params, out / "params_zip.pth")
    pkl = zipfile.ZipFile(out / "params_zip.pth").read("params_zip/data.pkl")
    for fn in [b"_rebuild_parameter_with_state", b"_rebuild_from_type_v2", b"_rebuild_tensor_v3"]:
        assert fn in pkl, fn
    record(out, "params_zip", "zip", load_oracle(out / "params_zip.pth"))

    # Storages tagged with a CUDA location, written without a GPU.
    small = collections.OrderedDict(w=torch.randn(3, 2), b=torch.arange(4), wt=None)
    small["wt"] = small["w"].t()
    for fmt in ["zip", "legacy"]:
        p = out / f"cuda_{fmt}.pth"
        save_cuda_tagged(small, p, _use_new_zipfile_serialization=(fmt == "zip"))
        raw = zipfile.ZipFile(p).read(f"cuda_{fmt}/data.pkl") if fmt == "zip" else p.read_bytes()
        assert b"cuda:0" in raw and b"cpu" not in raw
        record(out, f"cuda_{fmt}", fmt, load_oracle(p))
    cuda_files = ["cuda_zip", "cuda_legacy"]
    # Written by hand as a GPU machine's torch wrote it (torch.cuda.*Storage classes, two GPUs),
    # read back by torch.load(weights_only=True, map_location="cpu").
    make_legacy_cuda(out / "cuda_legacy_hand.pth")
    raw = (out / "cuda_legacy_hand.pth").read_bytes()
    assert b"torch.cuda" in raw and b"FloatStorage" in raw and b"cuda:1" in raw and b"cpu" not in raw
    hand = load_oracle(out / "cuda_legacy_hand.pth")
    assert hand["weight_t"].untyped_storage().data_ptr() == hand["weight"].untyped_storage().data_ptr()
    record(out, "cuda_legacy_hand", "legacy", hand)
    cuda_files.append("cuda_legacy_hand")
    # And by torch itself from tensors on a GPU, where there is one.
    if torch.cuda.is_available():
        real = collections.OrderedDict(w=torch.randn(3, 2, device="cuda"), b=torch.arange(4, device="cuda"))
        for fmt in ["zip", "legacy"]:
            torch.save(real, out / f"cuda_real_{fmt}.pth", _use_new_zipfile_serialization=(fmt == "zip"))
            record(out, f"cuda_real_{fmt}", fmt, load_oracle(out / f"cuda_real_{fmt}.pth"))
            cuda_files.append(f"cuda_real_{fmt}")
    (out / "cuda_files.json").write_text(json.dumps(cuda_files))

    # The tar format of PyTorch < 0.4, checked by torch's own (unrestricted) tar reader.
    g = torch.Generator().manual_seed(1)
    base = torch.randn(4, 5, generator=g)
    tsd = collections.OrderedDict(weight=base, weight_t=base.t(), rows=base[1:3], bias=torch.randn(5, generator=g),
                                  idx=torch.arange(6), mask=torch.tensor([1, 0, 1], dtype=torch.uint8),
                                  f64=torch.randn(2, 2, generator=g, dtype=torch.float64))
    make_tar(out / "tar_format.pth", tsd)
    loaded = load_oracle(out / "tar_format.pth", weights_only=False)
    for k, v in tsd.items():
        assert torch.equal(loaded[k], v) and loaded[k].stride() == v.stride(), k
    record(out, "tar_format", "tar", loaded)

    # A zip whose records were deflated by another zip tool, and a big-endian zip.
    rezip(out / "model_zip.pth", out / "deflated_zip.pth", compression=zipfile.ZIP_DEFLATED)
    record(out, "deflated_zip", "zip", load_oracle(out / "deflated_zip.pth"))
    be = collections.OrderedDict(f32=torch.randn(3), f64=torch.randn(2, dtype=torch.float64),
                                 i16=torch.tensor([1, -2, 300], dtype=torch.int16), u8=torch.arange(4, dtype=torch.uint8),
                                 c64=torch.randn(2, dtype=torch.complex64), bf16=torch.randn(3).bfloat16())
    torch.save(be, out / "be_src.pth")
    units = {"0": 4, "1": 8, "2": 2, "3": 1, "4": 4, "5": 2}

    def to_big(name, data):
        if name.endswith("/byteorder"):
            return b"big"
        key = name.rsplit("/", 1)[-1]
        if "/data/" in name and units[key] > 1:
            u = units[key]
            return b"".join(data[i:i + u][::-1] for i in range(0, len(data), u))
        return data

    rezip(out / "be_src.pth", out / "big_endian_zip.pth", to_big)
    (out / "be_src.pth").unlink()
    loaded = load_oracle(out / "big_endian_zip.pth")
    for k, v in be.items():
        assert torch.equal(loaded[k], v), k
    record(out, "big_endian_zip", "zip", loaded)

    # Hostile pickles: torch.load(weights_only=True) refuses each; so must we, naming the global.
    hostile = {}

    def write_hostile(name, data, glob):
        (out / name).write_bytes(data)
        must_fail(out / name, weights_only=True)
        hostile[name] = glob

    write_hostile("hostile_os_system.pth", b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00echo\x85R.", "os.system")
    legacy_head = (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
                   + pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2))
    write_hostile("hostile_builtins_eval.pth",
                  legacy_head + b"\x80\x02c__builtin__\neval\nX\x06\x00\x00\x001 + 1 \x85R.", "builtins.eval")
    frame = b"\x8c\x05posix\x8c\x06system\x93\x8c\x02id\x85R."
    write_hostile("hostile_posix_stack_global.pth", b"\x80\x04\x95" + struct.pack("<Q", len(frame)) + frame,
                  "posix.system")
    write_hostile("hostile_inst.pth", b"(S'echo'\nios\nsystem\n.", "os.system")

    def popen(name, data):
        if name.endswith("data.pkl"):
            return b"\x80\x02csubprocess\nPopen\n]q\x00X\x04\x00\x00\x00echoa\x85R."
        return data

    rezip(out / "model_zip.pth", out / "hostile_zip_popen.pth", popen)
    must_fail(out / "hostile_zip_popen.pth", weights_only=True)
    hostile["hostile_zip_popen.pth"] = "subprocess.Popen"
    # A hostile global inside an otherwise valid state dict (a tensor's backward hooks).
    sd_bytes = zipfile.ZipFile(out / "model_zip.pth").read("model_zip/data.pkl")
    assert b"ccollections\nOrderedDict\n" in sd_bytes

    def hooks(name, data):
        if name.endswith("data.pkl"):
            return data.replace(b"ccollections\nOrderedDict\n", b"cbuiltins\ngetattr\n", 1)
        return data

    rezip(out / "model_zip.pth", out / "hostile_zip_getattr.pth", hooks)
    must_fail(out / "hostile_zip_getattr.pth", weights_only=True)
    hostile["hostile_zip_getattr.pth"] = "builtins.getattr"
    (out / "hostile.json").write_text(json.dumps(hostile, indent=1))

    # Corrupt files: torch.load fails on each; so must we, with an error and no panic.
    corrupt = []
    zbytes = (out / "model_zip.pth").read_bytes()
    lbytes = (out / "model_legacy.pth").read_bytes()
    for name, data in [("corrupt_truncated_zip.pth", zbytes[: len(zbytes) * 3 // 5]),
                       ("corrupt_truncated_legacy.pth", lbytes[:-10]),
                       ("corrupt_truncated_pickle.pth", lbytes[:40]),
                       ("corrupt_empty.pth", b""),
                       ("corrupt_garbage.pth", b"this is not a checkpoint\n" * 20)]:
        (out / name).write_bytes(data)
        must_fail(out / name, weights_only=False)
        corrupt.append(name)

    # A storage shorter than its tensor claims: the record cut short (zip) ...
    short = collections.OrderedDict(w=torch.arange(6.0), b=torch.ones(2))
    torch.save(short, out / "short_src.pth")
    rezip(out / "short_src.pth", out / "corrupt_short_storage_zip.pth",
          lambda n, d: d[:12] if n.endswith("/data/0") else d)
    must_fail(out / "corrupt_short_storage_zip.pth", weights_only=True)
    # ... a size larger than the storage (zip) ...
    rezip(out / "short_src.pth", out / "corrupt_oversize_view_zip.pth",
          lambda n, d: d.replace(b"K\x06\x85", b"K\x0a\x85", 1) if n.endswith("data.pkl") else d)
    must_fail(out / "corrupt_oversize_view_zip.pth", weights_only=True)
    (out / "short_src.pth").unlink()
    # ... and a legacy storage whose element count and bytes fall short of the pickle's claim.
    torch.save(collections.OrderedDict(w=torch.arange(6.0)), out / "short_legacy_src.pth",
               _use_new_zipfile_serialization=False)
    lb = (out / "short_legacy_src.pth").read_bytes()
    count_at = len(lb) - 6 * 4 - 8
    assert struct.unpack("<q", lb[count_at:count_at + 8])[0] == 6
    (out / "corrupt_short_storage_legacy.pth").write_bytes(lb[:count_at] + struct.pack("<q", 4) + lb[count_at + 8:-8])
    (out / "short_legacy_src.pth").unlink()
    corrupt += ["corrupt_short_storage_zip.pth", "corrupt_oversize_view_zip.pth", "corrupt_short_storage_legacy.pth"]
    (out / "corrupt.json").write_text(json.dumps(corrupt, indent=1))
