//! DenseNet against torchvision beyond the generic zoo tests (fixtures of
//! scripts/fixtures_densenet.py): a file in the old key names of torchvision's published
//! DenseNet files (`denselayer1.norm.1.weight`) loads through the weights table's remap, through
//! the library and through the CLI, and gives the outputs torchvision's own loader gives;
//! without the remap it is refused and changes nothing; `memory_efficient` is accepted and
//! changes nothing; the weights tables equal torchvision's enums.
mod common;

use std::collections::HashMap;
use std::process::Command;

use tch::{nn::VarStore, Device, Tensor};
use tchvision::checkpoint::{self, LoadOptions, ReadOptions};
use tchvision::models::api::{Model, Options};
use tchvision::models::features::NodeOutputs;
use tchvision::nn::ModuleExt;
use tchvision::registry::{create_model, create_model_for_weights, lookup_weights};

const FILE: &str = "densenet/densenet121-a639ec97.pth";

fn expected() -> HashMap<String, Tensor> {
    common::tensors("densenet/expected.safetensors")
}

/// `(old key, new key)` pairs as the fixture renamed them.
fn renames() -> Vec<(String, String)> {
    let j = common::json("densenet/oldkeys.json");
    j["renames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string()))
        .collect()
}

fn check_outputs(model: &dyn Model, logits_key: &str) {
    let e = expected();
    model.eval();
    let (y, nodes) = tch::no_grad(|| model.forward_nodes(&e["input"], false, &["features.norm5"])).unwrap();
    common::assert_close("logits", &y, &e[logits_key], 1e-4, 1e-5);
    common::assert_close("features.norm5", &nodes[0].1, &e["features.norm5"], 1e-4, 1e-5);
}

#[test]
fn old_key_file_loads_through_the_published_weights_remap() {
    let _s = common::serial();
    let w = lookup_weights("densenet121", "imagenet1k_v1").unwrap();
    let vs = VarStore::new(Device::Cpu);
    let model = create_model_for_weights("densenet121", &vs.root(), &Options::default(), w).unwrap();
    let opts = w.load_options(LoadOptions::strict(), model.as_ref()).unwrap();
    let report = checkpoint::load_file(model.as_ref(), &common::fixture(FILE), &ReadOptions::default(), &opts).unwrap();
    let want = renames();
    assert!(want.len() > 400, "the fixture renamed {} keys", want.len());
    assert_eq!(report.renamed.len(), want.len(), "renamed keys");
    for (r, (old, new)) in report.renamed.iter().zip(&want) {
        assert_eq!((&r.from, &r.to), (old, new));
    }
    assert!(report.missing.is_empty() && report.unexpected.is_empty() && report.dropped.is_empty(), "{report}");
    assert_eq!(report.loaded.len() as i64, common::json("densenet/oldkeys.json")["num_keys"].as_i64().unwrap());
    check_outputs(model.as_ref(), "logits");
}

#[test]
fn old_keys_without_the_remap_are_refused_and_change_nothing() {
    let _s = common::serial();
    let vs = VarStore::new(Device::Cpu);
    let model = create_model("densenet121", &vs.root(), &Options::default()).unwrap();
    let before: Vec<Tensor> = model.state_dict().into_iter().map(|(_, t)| t.copy()).collect();
    let err =
        checkpoint::load_file(model.as_ref(), &common::fixture(FILE), &ReadOptions::default(), &LoadOptions::strict())
            .unwrap_err()
            .to_string();
    assert!(err.contains("denselayer1.norm.1.weight") || err.contains("denselayer1.norm1.weight"), "{err}");
    for ((k, t), b) in model.state_dict().into_iter().zip(before) {
        assert!(t.equal(&b), "{k} changed by a failed load");
    }
}

fn tv(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tchvision")).args(args).output().unwrap();
    assert!(out.status.success(), "tchvision {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn cli_run_and_load_remap_a_file_with_the_published_name() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("x.safetensors");
    Tensor::write_safetensors(&[("input", &expected()["input"])], &input).unwrap();
    let out = dir.path().join("y.safetensors");
    let f = common::fixture(FILE).display().to_string();
    let (i, o) = (input.display().to_string(), out.display().to_string());
    tv(&[
        "run",
        "densenet121",
        "--weights",
        &f,
        "--input",
        &i,
        "--output",
        &o,
        "--nodes",
        "features.norm5",
        "--device",
        "cpu",
    ]);
    let got: HashMap<String, Tensor> = Tensor::read_safetensors(&out).unwrap().into_iter().collect();
    let e = expected();
    common::assert_close("run output", &got["output"], &e["logits"], 1e-4, 1e-5);
    common::assert_close("run features.norm5", &got["features.norm5"], &e["features.norm5"], 1e-4, 1e-5);
    let report: serde_json::Value =
        serde_json::from_str(&tv(&["load", "densenet121", &f, "--strict", "--json", "--device", "cpu"])).unwrap();
    assert_eq!(report["renamed"].as_array().unwrap().len(), renames().len(), "{report}");
    assert!(report["unexpected"].as_array().unwrap().is_empty(), "{report}");
}

#[test]
fn memory_efficient_is_accepted_and_changes_nothing() {
    let _s = common::serial();
    let w = lookup_weights("densenet121", "default").unwrap();
    let vs = VarStore::new(Device::Cpu);
    let o = Options::default().set("memory_efficient", true);
    let model = create_model_for_weights("densenet121", &vs.root(), &o, w).unwrap();
    let opts = w.load_options(LoadOptions::strict(), model.as_ref()).unwrap();
    checkpoint::load_file(model.as_ref(), &common::fixture(FILE), &ReadOptions::default(), &opts).unwrap();
    check_outputs(model.as_ref(), "logits.memory_efficient");
    let err = create_model("densenet121", &vs.root(), &Options::default().set("memory_efficient", "sometimes"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("memory_efficient"), "{err}");
}

#[test]
fn weights_tables_equal_torchvisions() {
    common::assert_weights_tables_match("densenet/weights.json");
}
