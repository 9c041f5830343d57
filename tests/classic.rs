//! The CLI on the classic families (AlexNet, VGG, SqueezeNet, ShuffleNet V2, MNASNet), run as a
//! user runs it on files torch saved (scripts/fixtures_classic.py): `run ARCH --weights FILE`
//! reproduces torchvision's output and feature_info nodes, `load --strict` loads every key,
//! `predict` gives torchvision's top-5, `features` writes the nodes' grids, a version-1
//! MNASNet file is one clear error; and the builders' options as torchvision's (VGG's
//! published weights skip the init loop; VGG-16's feature weights keep `num_classes`).
mod common;

use std::collections::HashMap;
use std::process::{Command, Output};
use tch::{nn::VarStore, Device, Tensor};
use tchvision::models::api::Options;
use tchvision::nn::ModuleExt;
use tchvision::registry::{create_model, create_model_for_weights, lookup_weights};

/// The models of the fixture and their classes.
const MODELS: [(&str, &str); 3] = [("squeezenet1_1", "1000"), ("shufflenet_v2_x0_5", "10"), ("mnasnet0_75", "10")];

fn tv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tchvision")).args(args).output().expect("running tchvision")
}

fn ok(args: &[&str]) -> String {
    let out = tv(args);
    assert!(out.status.success(), "tchvision {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn p(rel: &str) -> String {
    common::fixture(rel).display().to_string()
}

fn chelsea() -> String {
    common::root().join("examples/images/chelsea.png").display().to_string()
}

fn nodes(name: &str) -> Vec<String> {
    let vs = VarStore::new(Device::Cpu);
    let m = create_model(name, &vs.root(), &Options::default()).unwrap();
    m.feature_info().into_iter().map(|f| f.module).collect()
}

#[test]
fn run_with_a_torch_saved_file_reproduces_torchvision() {
    let want = common::tensors("classic/expected.safetensors");
    let dir = tempfile::tempdir().unwrap();
    for (name, classes) in MODELS {
        let out = dir.path().join(format!("{name}.safetensors"));
        let nodes = nodes(name);
        let (w, x, o) = (p(&format!("classic/{name}.pth")), p("classic/x.safetensors"), out.display().to_string());
        let list = nodes.join(",");
        let args =
            ["run", name, "--weights", &w, "--num-classes", classes, "--input", &x, "--output", &o, "--nodes", &list];
        ok(&[&args[..], &["--device", "cpu"]].concat());
        let got: HashMap<String, Tensor> = Tensor::read_safetensors(&out).unwrap().into_iter().collect();
        let fixture_nodes = want.keys().filter(|k| k.starts_with(&format!("{name}."))).count();
        assert_eq!(fixture_nodes, nodes.len() + 2, "{name}: torch's nodes are feature_info's");
        for key in std::iter::once("output".to_string()).chain(nodes) {
            common::assert_close(&format!("{name} {key}"), &got[&key], &want[&format!("{name}.{key}")], 1e-4, 1e-5);
        }
    }
}

#[test]
fn load_strict_loads_every_key() {
    for (name, classes) in MODELS {
        let w = p(&format!("classic/{name}.pth"));
        let out = ok(&["load", name, &w, "--num-classes", classes, "--strict", "--json", "--device", "cpu"]);
        let r: serde_json::Value = serde_json::from_str(&out).unwrap();
        for k in ["missing", "unexpected", "mismatched"] {
            assert_eq!(r[k], serde_json::json!([]), "{name} {k}");
        }
        let vs = VarStore::new(Device::Cpu);
        let m = create_model(name, &vs.root(), &Options::default().num_classes(classes.parse().unwrap())).unwrap();
        assert_eq!(r["loaded"].as_array().unwrap().len(), m.state_dict().len(), "{name}");
    }
    // A version-1 MNASNet state dict for alpha 0.5: one line naming the version, exit 1.
    let out = tv(&["load", "mnasnet0_5", &p("mnasnet/v1_05.pth"), "--num-classes", "10", "--device", "cpu"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("version 1") && !err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn predict_gives_torchvisions_top5() {
    let want = common::json("classic/predict.json");
    let w = p("classic/squeezenet1_1.pth");
    let out =
        ok(&["predict", "squeezenet1_1", "--weights", &w, &chelsea(), "--topk", "5", "--json", "--device", "cpu"]);
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    let top = got[0]["top"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    for (i, c) in top.iter().enumerate() {
        assert_eq!(c["index"], want["index"][i], "rank {i}");
        assert_eq!(c["label"], want["label"][i], "rank {i}");
        let (a, b) = (c["probability"].as_f64().unwrap(), want["prob"][i].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-4 * b.abs() + 1e-6, "rank {i}: {a} vs {b}");
    }
}

#[test]
fn features_writes_the_grids_of_torchvisions_maps() {
    let want = common::tensors("classic/expected.safetensors");
    let dir = tempfile::tempdir().unwrap();
    let w = p("classic/shufflenet_v2_x0_5.pth");
    let out = dir.path().display().to_string();
    let args = ["features", "shufflenet_v2_x0_5", "--weights", &w, "--num-classes", "10", &chelsea()];
    let j = ok(&[&args[..], &["--nodes", "stage2,conv5", "--out", &out, "--json", "--device", "cpu"]].concat());
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    for (i, node) in ["stage2", "conv5"].into_iter().enumerate() {
        // The maps of chelsea.png at 224: stage2 at stride 8, conv5 at stride 32.
        let side = 224 / if node == "stage2" { 8 } else { 32 };
        let chs = want[&format!("shufflenet_v2_x0_5.{node}")].size()[1];
        assert_eq!(v[i]["shape"], serde_json::json!([1, chs, side, side]), "{node}");
        let png = v[i]["png"].as_str().unwrap();
        assert!(std::path::Path::new(png).exists(), "{png}");
    }
}

#[test]
fn vgg_published_weights_imply_torchvisions_builder_options() {
    let _s = common::serial();
    // torchvision's _vgg: `weights` set → init_weights=False (torch's default layer init stays:
    // conv biases U(±1/√fan_in), not the init loop's zeros).
    let w = lookup_weights("vgg11", "imagenet1k_v1").unwrap();
    let vs = VarStore::new(Device::Cpu);
    let m = create_model_for_weights("vgg11", &vs.root(), &Options::default(), w).unwrap();
    let bias = m.get_submodule("features.0").unwrap().parameter("bias").unwrap();
    assert!(bias.abs().max().double_value(&[]) > 0.0, "init loop skipped");
    let vs = VarStore::new(Device::Cpu);
    let m = create_model("vgg11", &vs.root(), &Options::default()).unwrap();
    let bias = m.get_submodule("features.0").unwrap().parameter("bias").unwrap();
    assert_eq!(bias.abs().max().double_value(&[]), 0.0, "the init loop zeroes conv biases");
    // IMAGENET1K_FEATURES has no categories: torchvision keeps the caller's num_classes (and
    // its own normalisation: mean (0.48235, 0.45882, 0.40784), std 1/255).
    let f = lookup_weights("vgg16", "imagenet1k_features").unwrap();
    assert!(f.categories().is_empty());
    assert_eq!(f.preprocess().std, [1.0 / 255.0; 3]);
    let vs = VarStore::new(Device::Cpu);
    let m = create_model_for_weights("vgg16", &vs.root(), &Options::default().num_classes(7), f).unwrap();
    assert_eq!(m.num_classes(), 7);
    // Weights with categories refuse another num_classes, as torchvision does.
    let vs = VarStore::new(Device::Cpu);
    assert!(create_model_for_weights("vgg11", &vs.root(), &Options::default().num_classes(7), w).is_err());
}
