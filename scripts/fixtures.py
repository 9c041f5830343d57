#!/usr/bin/env python3
"""Writes the test fixtures from torch/torchvision themselves: the oracle of every Rust test.

Usage: fixtures.py [OUTDIR]   (default: target/fixtures next to this repo's Cargo.toml)

Each `scripts/fixtures_*.py` module has `main(outdir)` and writes under `OUTDIR/<topic>/`.
Tensors go to .safetensors (read in Rust by tch, independently of tchvision's own readers,
except where a fixture is itself a file format under test), metadata to .json.
The fixtures are remade only when a fixture script changes (a hash of them is kept in
OUTDIR/STAMP); the whole set is written to a temporary folder and renamed into place, so an
interrupted run leaves no half set.
"""
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def scripts():
    return sorted(HERE.glob("fixtures_*.py"))


def stamp():
    h = hashlib.sha256()
    for p in [Path(__file__).resolve()] + scripts():
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "fixtures"
    want = stamp()
    stamp_file = out / "STAMP"
    if stamp_file.exists() and stamp_file.read_text().strip() == want:
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
