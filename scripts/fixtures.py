#!/usr/bin/env python3
"""Writes the test fixtures from torch/torchvision themselves: the oracle of every Rust test.

Usage: fixtures.py [OUTDIR]   (default: target/fixtures next to this repo's Cargo.toml)

Each `scripts/fixtures_*.py` module has `main(outdir)` and writes under `OUTDIR/<topic>/`.
Tensors go to .safetensors (read in Rust by tch, independently of tchvision's own readers,
except where a fixture is itself a file format under test), metadata to .json.
The fixtures are remade only when something they depend on changes: the fixture scripts, the
files they read (INPUTS below: the example images), and the versions of torch, torchvision,
safetensors, numpy, Pillow and Python (OUTDIR/STAMP keeps the versions and a hash of the rest;
the check reads package metadata only, it does not import torch). The whole set is written to a temporary folder and renamed into place, so an
interrupted run leaves no half set.
"""
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def scripts():
    return sorted(HERE.glob("fixtures_*.py"))


# Files and folders (relative to the repository root) that fixture scripts read: a change in
# any of them remakes the fixtures. A script that starts reading another file adds it here.
INPUTS = ["examples/images"]

# The packages whose versions the fixtures depend on (torch makes them; the others write them).
PACKAGES = ["torch", "torchvision", "safetensors", "numpy", "pillow"]


def input_files():
    files = []
    for rel in INPUTS:
        p = ROOT / rel
        files += sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    return files


def versions():
    v = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            v[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            v[name] = None
    return v


def stamp():
    """What the fixtures were made from: package versions, and sha256 of each script and input
    file (relative path: hash). Compared as a whole; written to OUTDIR/STAMP as JSON."""
    files = {}
    for p in [Path(__file__).resolve()] + scripts():
        files["scripts/" + p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    for p in input_files():
        files[str(p.relative_to(ROOT))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return json.dumps({"versions": versions(), "files": files}, indent=1, sort_keys=True)


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "fixtures"
    want = stamp()
    stamp_file = out / "STAMP"
    if stamp_file.exists() and stamp_file.read_text().strip() == want.strip():
        print(f"[fixtures] up to date in {out}")
        return
    import torch  # noqa: F401  (imported late: the up-to-date check must stay fast)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fixtures-", dir=out.parent))
    try:
        for script in scripts():
            spec = importlib.util.spec_from_file_location(script.stem, script)
            mod = importlib.util.module_from_spec(spec)
            sys.path.insert(0, str(HERE))
            spec.loader.exec_module(mod)
            print(f"[fixtures] {script.name}", flush=True)
            mod.main(tmp)
        (tmp / "STAMP").write_text(want + "\n")
        if out.exists():
            old = out.with_name(out.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.rename(out, old)
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
        print(f"[fixtures] written to {out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
