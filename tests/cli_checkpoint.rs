//! The `tchvision inspect` and `tchvision convert` subcommands, run as the built binary, against
//! files torch wrote (scripts/fixtures_load.py); converted files are read back by torch and
//! Python's safetensors.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{fixture, json, python};
use serde_json::Value;

fn tchvision(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tchvision")).args(args.iter().map(|a| a.as_ref())).output().unwrap()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(o.status.success(), "tchvision failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Asserts a failure reported as one line `tchvision: error: …` containing `needle`.
#[track_caller]
fn fails_cleanly(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "expected failure, stdout: {}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(err.trim_end().lines().count(), 1, "stderr is not one line: {err}");
    assert!(err.starts_with("tchvision: error: "), "{err}");
    assert!(err.contains(needle), "{err} should mention {needle}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
}

fn inspect_json(rel: &str) -> Value {
    let out = ok(&tchvision(&[&"inspect", &fixture(rel), &"--json"]));
    serde_json::from_str(&out).unwrap()
}

/// torch's (key, dtype, shape, bytes) list of a fixture, as the JSON the binary prints.
fn torch_tensors(meta: &str) -> Value {
    json(meta)["tensors"].clone()
}

#[test]
fn inspect_json_lists_what_torch_saved() {
    for (file, format, meta) in [
        ("load/small.pth", "zip", "load/small.json"),
        ("load/small_legacy.pth", "legacy", "load/small.json"),
        ("load/small_module.pth", "zip", "load/small_module.json"),
        ("load/small_f16.pth", "zip", "load/small_f16.json"),
        ("load/dtypes.pth", "zip", "load/dtypes.json"),
    ] {
        let v = inspect_json(file);
        let mut fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort();
        assert_eq!(fields, ["format", "other", "tensors"], "{file}");
        assert_eq!(v["format"], format, "{file}");
        assert_eq!(v["tensors"], torch_tensors(meta), "{file}");
        assert_eq!(v["other"], serde_json::json!([]), "{file}");
    }
}

#[test]
fn inspect_json_of_safetensors_and_nested_files() {
    // Python's safetensors lays tensors out in its own order: compare as sets.
    for (file, meta) in [("load/small.safetensors", "load/small.json"), ("load/dtypes.safetensors", "load/dtypes.json")]
    {
        let v = inspect_json(file);
        assert_eq!(v["format"], "safetensors");
        let mut got = v["tensors"].as_array().unwrap().clone();
        let mut want = torch_tensors(meta).as_array().unwrap().clone();
        let by_key = |a: &Value, b: &Value| a["key"].as_str().cmp(&b["key"].as_str());
        got.sort_by(by_key);
        want.sort_by(by_key);
        assert_eq!(got, want, "{file}");
    }
    let v = inspect_json("load/small.safetensors");
    assert_eq!(v["other"], serde_json::json!([{"key": "__metadata__.format", "type": "str"}]));

    let v = inspect_json("load/small_nested.pth");
    assert_eq!(v["format"], "zip");
    assert_eq!(v["tensors"], torch_tensors("load/small.json"));
    let other: Vec<&str> = v["other"].as_array().unwrap().iter().map(|o| o["key"].as_str().unwrap()).collect();
    for k in ["epoch", "best_acc1", "arch"] {
        assert!(other.iter().any(|o| o.ends_with(k)), "{k} not in {other:?}");
    }
    assert!(v["other"].as_array().unwrap().iter().all(|o| o["type"].is_string()));
}

#[test]
fn inspect_text_shows_format_keys_dtypes_shapes_and_totals() {
    let out = ok(&tchvision(&[&"inspect", &fixture("load/small_f16.pth")]));
    assert!(out.lines().next().unwrap().contains("zip format"), "{out}");
    for t in torch_tensors("load/small_f16.json").as_array().unwrap() {
        let shape =
            format!("{:?}", t["shape"].as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).collect::<Vec<_>>());
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == t["key"].as_str())
            .unwrap_or_else(|| panic!("{} missing from\n{out}", t["key"]));
        assert!(line.contains(t["dtype"].as_str().unwrap()), "{line}");
        assert!(line.contains(&shape), "{line}");
        assert!(line.trim_end().ends_with(&t["bytes"].to_string()), "{line}");
    }
    let total: u64 =
        torch_tensors("load/small_f16.json").as_array().unwrap().iter().map(|t| t["bytes"].as_u64().unwrap()).sum();
    assert!(out.contains("total: 15 tensors") && out.contains(&format!("{total} bytes")), "{out}");
    let out = ok(&tchvision(&[&"inspect", &fixture("load/small_nested.pth")]));
    assert!(out.contains("epoch") && out.contains("state dict under key `state_dict`"), "{out}");
}

/// Runs a Python check; `script` gets the paths as sys.argv[1:].
#[track_caller]
fn python_check(script: &str, args: &[&Path]) {
    let o = Command::new(python()).arg("-c").arg(script).args(args).output().unwrap();
    assert!(o.status.success(), "python check failed: {}", String::from_utf8_lossy(&o.stderr));
}

const SAME_AS_TORCH: &str = r#"
import sys, torch
from safetensors.torch import load_file
def load(p):
    if p.endswith(".safetensors"):
        return load_file(p)
    sd = torch.load(p, weights_only=True)
    return sd["state_dict"] if "state_dict" in sd else sd
out, ref = load(sys.argv[1]), load(sys.argv[2])
assert list(out) == list(ref) or sys.argv[1].endswith(".safetensors") or sys.argv[2].endswith(".safetensors"), (list(out), list(ref))
assert set(out) == set(ref), (set(out) ^ set(ref))
for k, v in ref.items():
    assert out[k].dtype == v.dtype and out[k].shape == v.shape and torch.equal(out[k], v), k
"#;

#[test]
fn convert_pth_to_safetensors_and_back_is_what_torch_reads() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("small.safetensors");
    let pth = dir.path().join("small.pth");
    let out = ok(&tchvision(&[&"convert", &fixture("load/small.pth"), &st]));
    assert!(out.contains("15 tensors"), "{out}");
    python_check(SAME_AS_TORCH, &[&st, &fixture("load/small.pth")]);

    let out = ok(&tchvision(&[&"convert", &fixture("load/small.safetensors"), &pth, &"--json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["input_format"].as_str(), v["output_format"].as_str()), (Some("safetensors"), Some("zip")));
    python_check(SAME_AS_TORCH, &[&pth, &fixture("load/small.safetensors")]);

    // .pth -> .pth: a legacy file becomes a zip file with the same state dict, same order.
    let zipped = dir.path().join("from_legacy.pth");
    ok(&tchvision(&[&"convert", &fixture("load/small_legacy.pth"), &zipped]));
    python_check(SAME_AS_TORCH, &[&zipped, &fixture("load/small.pth")]);
    assert_eq!(inspect_json(zipped.to_str().unwrap())["format"], "zip");
}

#[test]
fn convert_resolves_nested_state_dicts_and_keeps_module_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("nested.safetensors");
    let out = ok(&tchvision(&[&"convert", &fixture("load/small_nested.pth"), &st, &"--key", &"state_dict"]));
    assert!(out.contains("key `state_dict`"), "{out}");
    python_check(SAME_AS_TORCH, &[&st, &fixture("load/small.pth")]);

    let auto = dir.path().join("nested_auto.pth");
    ok(&tchvision(&[&"convert", &fixture("load/small_nested.pth"), &auto]));
    python_check(SAME_AS_TORCH, &[&auto, &fixture("load/small.pth")]);

    let module = dir.path().join("module.safetensors");
    ok(&tchvision(&[&"convert", &fixture("load/small_module.pth"), &module]));
    python_check(SAME_AS_TORCH, &[&module, &fixture("load/small_module.pth")]);
}

#[test]
fn errors_are_one_line_without_panics() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pth");
    fails_cleanly(&tchvision(&[&"inspect", &missing]), "nope.pth");
    fails_cleanly(&tchvision(&[&"convert", &missing, &dir.path().join("x.safetensors")]), "nope.pth");

    let garbage = dir.path().join("garbage.pth");
    std::fs::write(&garbage, b"this is not a checkpoint at all, just some words\n").unwrap();
    fails_cleanly(&tchvision(&[&"inspect", &garbage]), "garbage.pth");
    fails_cleanly(&tchvision(&[&"inspect", &garbage, &"--json"]), "garbage.pth");

    // A truncated zip checkpoint and a truncated safetensors file.
    for (src, name) in [("load/small.pth", "cut.pth"), ("load/small.safetensors", "cut.safetensors")] {
        let bytes = std::fs::read(fixture(src)).unwrap();
        let cut = dir.path().join(name);
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        fails_cleanly(&tchvision(&[&"inspect", &cut]), name);
        fails_cleanly(&tchvision(&[&"convert", &cut, &dir.path().join("o.safetensors")]), name);
    }
    // A safetensors header that lies about a shape: the error names the key.
    let bad = dir.path().join("bad.safetensors");
    let header = br#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0; 8]);
    std::fs::write(&bad, bytes).unwrap();
    fails_cleanly(&tchvision(&[&"inspect", &bad]), "tensor `w`");

    let o = tchvision(&[&"convert", &fixture("load/small.pth"), &dir.path().join("out.xyz")]);
    fails_cleanly(&o, "out.xyz");
    assert!(!dir.path().join("out.xyz").exists());
}
