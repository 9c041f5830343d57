//! MNASNet's state-dict versions and torch's version rules at load, against torchvision's own
//! verdicts on the same files (scripts/fixtures_mnasnet.py): `_metadata` read from a `.pth` and
//! written by `save_module` so that torchvision loads it; a version-1 state dict refused for
//! alpha ≠ 1 (torchvision converts it) with an error naming the version and the model
//! unchanged; version 1 for alpha = 1 loaded; unknown versions refused; a plain dict (no
//! `_metadata`) taken as version 2 (torchvision refuses it); BatchNorm's missing
//! `num_batches_tracked` kept when the file has no version, reported when it has version 2.
mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use tch::{nn::VarStore, Device, Tensor};
use tchvision::checkpoint::{self, LoadOptions, ReadOptions};
use tchvision::models::mnasnet::MNASNet;
use tchvision::models::shufflenetv2::ShuffleNetV2;
use tchvision::nn::{Module, ModuleExt};

fn file(stem: &str) -> PathBuf {
    common::fixture(&format!("mnasnet/{stem}.pth"))
}

fn meta(stem: &str) -> serde_json::Value {
    common::json("mnasnet/meta.json")["files"][stem].clone()
}

fn io() -> HashMap<String, Tensor> {
    common::tensors("mnasnet/io.safetensors")
}

fn mnasnet(alpha: f64) -> (VarStore, MNASNet) {
    let vs = VarStore::new(Device::Cpu);
    let m = MNASNet::new(&vs.root(), alpha, 10, 0.2).unwrap();
    m.eval();
    (vs, m)
}

fn load(m: &dyn Module, stem: &str) -> tchvision::Result<checkpoint::LoadReport> {
    checkpoint::load_file(m, file(stem), &ReadOptions::default(), &LoadOptions::strict())
}

/// max |a − b| / max |b| ≤ 1e-5.
#[track_caller]
fn assert_same(what: &str, ours: &Tensor, theirs: &Tensor) {
    assert_eq!(ours.size(), theirs.size(), "{what}");
    let scale = theirs.abs().max().double_value(&[]);
    let e = (ours - theirs).abs().max().double_value(&[]) / scale;
    assert!(e <= 1e-5, "{what}: relative error {e:e}");
}

fn versions_of(json: &serde_json::Value) -> Vec<(String, i64)> {
    json.as_array().unwrap().iter().map(|v| (v[0].as_str().unwrap().to_string(), v[1].as_i64().unwrap())).collect()
}

fn snapshot(m: &dyn Module) -> Vec<(String, Tensor)> {
    m.state_dict().into_iter().map(|(k, t)| (k, t.copy())).collect()
}

fn unchanged(m: &dyn Module, before: &[(String, Tensor)]) {
    for ((k, t), (_, b)) in m.state_dict().iter().zip(before) {
        assert!(t.equal(b), "{k} changed by a refused load");
    }
}

#[test]
fn version_2_file_loads_with_its_metadata() {
    let _s = common::serial();
    let want = versions_of(&common::json("mnasnet/meta.json")["metadata_v2_05"]);
    let ckpt = checkpoint::read(&file("v2_05"), &ReadOptions::default()).unwrap();
    assert_eq!(ckpt.versions, want, "the file's _metadata as torch wrote it");
    let (_vs, m) = mnasnet(0.5);
    // Every module's version equals what torch records for it (MNASNet 2, BatchNorm2d 2, the
    // rest 1), path for path.
    assert_eq!(m.state_dict_versions(), want, "state_dict_versions vs torch's _metadata");
    assert!(meta("v2_05")["torchvision_loads"].as_bool().unwrap());
    let report = load(&m, "v2_05").unwrap();
    assert!(report.is_complete());
    let io = io();
    let y = tch::no_grad(|| m.try_forward_t(&io["x"], false)).unwrap();
    assert_same("output", &y, &io["out.v2_05"]);
}

#[test]
fn version_1_state_dict_is_refused_for_alpha_not_1() {
    let _s = common::serial();
    // torchvision accepts it (it swaps in a version-1 stem); tchvision refuses it, naming the
    // version, and changes nothing.
    assert!(meta("v1_05")["torchvision_loads"].as_bool().unwrap());
    let ckpt = checkpoint::read(&file("v1_05"), &ReadOptions::default()).unwrap();
    assert_eq!(ckpt.versions.first(), Some(&(String::new(), 1)), "the fixture is version 1");
    let (_vs, m) = mnasnet(0.5);
    let before = snapshot(&m);
    let err = load(&m, "v1_05").unwrap_err().to_string();
    assert!(err.contains("version 1") && err.contains("MNASNet") && err.contains("alpha 0.5"), "{err}");
    unchanged(&m, &before);
    // Through the CLI's loader too (the same path, strict, with published-weights options).
    let err = checkpoint::load_file(&m, file("v1_05"), &ReadOptions::default().mmap(true), &LoadOptions::partial())
        .unwrap_err()
        .to_string();
    assert!(err.contains("version 1"), "{err}");
    unchanged(&m, &before);
}

#[test]
fn version_1_with_alpha_1_loads_as_torchvision_loads_it() {
    let _s = common::serial();
    assert!(meta("v1_10")["torchvision_loads"].as_bool().unwrap());
    let ckpt = checkpoint::read(&file("v1_10"), &ReadOptions::default()).unwrap();
    assert_eq!(ckpt.versions.first(), Some(&(String::new(), 1)));
    let (_vs, m) = mnasnet(1.0);
    load(&m, "v1_10").unwrap();
    let io = io();
    let y = tch::no_grad(|| m.try_forward_t(&io["x"], false)).unwrap();
    assert_same("output", &y, &io["out.v1_10"]);
}

#[test]
fn unknown_version_is_refused_as_torchvision_refuses_it() {
    let _s = common::serial();
    let tv = meta("v3_05");
    assert!(!tv["torchvision_loads"].as_bool().unwrap());
    assert!(tv["error"].as_str().unwrap().contains("instead of 3"));
    let (_vs, m) = mnasnet(0.5);
    let before = snapshot(&m);
    let err = load(&m, "v3_05").unwrap_err().to_string();
    assert!(err.contains("version 3"), "{err}");
    unchanged(&m, &before);
}

#[test]
fn plain_dict_without_metadata_is_taken_as_version_2() {
    let _s = common::serial();
    // torchvision refuses a state dict without `_metadata` ("version should be set to 1 or 2
    // instead of None"); tchvision loads it as the current layout (shapes are checked anyway),
    // so safetensors files and plain dicts work.
    let tv = meta("v2_05_plain");
    assert!(tv["error"].as_str().unwrap().contains("instead of None"), "{tv}");
    let ckpt = checkpoint::read(&file("v2_05_plain"), &ReadOptions::default()).unwrap();
    assert!(ckpt.versions.is_empty());
    let (_vs, m) = mnasnet(0.5);
    load(&m, "v2_05_plain").unwrap();
    let io = io();
    let y = tch::no_grad(|| m.try_forward_t(&io["x"], false)).unwrap();
    assert_same("output", &y, &io["out.v2_05"]);
}

#[test]
fn batchnorm_keeps_num_batches_tracked_only_without_version_2() {
    let _s = common::serial();
    let vs = VarStore::new(Device::Cpu);
    let m = ShuffleNetV2::new(&vs.root(), [4, 8, 4], [24, 48, 96, 192, 1024], 10).unwrap();
    m.eval();
    // No `_metadata`: torch fills each missing num_batches_tracked with the module's value.
    assert!(meta("nbt_plain")["torchvision_loads"].as_bool().unwrap());
    let report = load(&m, "nbt_plain").unwrap();
    assert!(report.is_complete() && report.loaded.len() == m.state_dict().len(), "{report}");
    for (k, t) in m.named_buffers() {
        if k.ends_with("num_batches_tracked") {
            assert_eq!(t.int64_value(&[]), 0, "{k} keeps the model's value");
        }
    }
    let io = io();
    let y = tch::no_grad(|| m.try_forward_t(&io["x"], false)).unwrap();
    assert_same("output", &y, &io["out.nbt_plain"]);
    // BatchNorm version 2 in `_metadata`: the keys are missing, for torch and here.
    let tv = meta("nbt_v2");
    assert!(tv["error"].as_str().unwrap().contains("Missing key(s)"), "{tv}");
    let err = load(&m, "nbt_v2").unwrap_err().to_string();
    assert!(err.contains("missing") && err.contains("num_batches_tracked"), "{err}");
}

#[test]
fn saved_module_loads_in_torchvision() {
    let _s = common::serial();
    let (_vs, m) = mnasnet(0.5);
    load(&m, "v2_05").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.pth");
    checkpoint::save_module(&ours, &m).unwrap();
    let back = checkpoint::read(&ours, &ReadOptions::default()).unwrap();
    assert_eq!(back.versions, m.state_dict_versions(), "versions read back");
    let plain = dir.path().join("plain.pth");
    checkpoint::save_pth(&plain, &m.state_dict()).unwrap();
    // torchvision (weights_only load) on both files: the one with `_metadata` loads and gives
    // the fixture's output; the plain one is refused by torchvision's version check.
    let script = r#"
import sys, torch, torchvision
from safetensors.torch import load_file
io = load_file(sys.argv[3])
m = torchvision.models.MNASNet(0.5, num_classes=10)
sd = torch.load(sys.argv[1], weights_only=True)
assert sd._metadata[""]["version"] == 2, sd._metadata
m.load_state_dict(sd)
m.eval()
with torch.no_grad():
    y = m(io["x"])
err = ((y - io["out.v2_05"]).abs().max() / io["out.v2_05"].abs().max()).item()
assert err <= 1e-6, err
try:
    torchvision.models.MNASNet(0.5, num_classes=10).load_state_dict(torch.load(sys.argv[2], weights_only=True))
    sys.exit("torchvision loaded a state dict without _metadata")
except ValueError as e:
    assert "None" in str(e), e
print("ok")
"#;
    let out = std::process::Command::new(common::python())
        .args(["-W", "ignore", "-c", script])
        .arg(&ours)
        .arg(&plain)
        .arg(common::fixture("mnasnet/io.safetensors"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "torchvision on our file: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
