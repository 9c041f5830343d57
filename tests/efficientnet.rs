//! EfficientNet beyond the generic zoo tests (tests/zoo.rs), against torchvision
//! (scripts/fixtures_effnet.py): every node of torchvision's feature-extraction graph answers a
//! query with torchvision's value; the builder options `dropout` and `stochastic_depth_prob`
//! change the model as torchvision's keyword arguments do (its own initialisation after the
//! same seed, eval and train-mode outputs with the dropout and stochastic-depth masks,
//! BatchNorm updates); `tchvision run` on a `torch.save(model.state_dict())` file reproduces
//! torchvision's outputs; bad options are errors.
mod common;
mod effnet;

use effnet::{graph_nodes_equal_torchvisions, options_equal_torchvisions, rel_err};
use std::collections::HashMap;
use tch::{nn::VarStore, Device, Kind, Tensor};
use tchvision::models::api::Options;
use tchvision::nn::ModuleExt;
use tchvision::registry::create_model;

#[test]
fn efficientnet_b0_graph_nodes_equal_torchvisions() {
    graph_nodes_equal_torchvisions("efficientnet_b0");
}

#[test]
fn efficientnet_v2_s_graph_nodes_equal_torchvisions() {
    graph_nodes_equal_torchvisions("efficientnet_v2_s");
}

#[test]
fn dropout_and_stochastic_depth_options_equal_torchvisions() {
    options_equal_torchvisions("efficientnet_b0");
}

#[test]
fn feature_info_strides_are_the_stage_outputs() {
    let _s = common::serial();
    for name in ["efficientnet_b0", "efficientnet_v2_m"] {
        let vs = VarStore::new(Device::Cpu);
        let model = create_model(name, &vs.root(), &Options::default()).unwrap();
        model.eval();
        let x = Tensor::zeros([1, 3, 64, 96], (Kind::Float, Device::Cpu));
        let (_, stages) = tch::no_grad(|| model.forward_stages(&x, false)).unwrap();
        let reductions: Vec<i64> = stages.iter().map(|(i, _)| i.reduction).collect();
        assert_eq!(reductions, [2, 4, 8, 16, 32], "{name}");
        for (info, t) in stages {
            let s = t.size();
            assert_eq!(s[1], info.num_chs, "{name} {}", info.module);
            assert_eq!([s[2], s[3]], [64 / info.reduction, 96 / info.reduction], "{name} {}", info.module);
        }
    }
}

#[test]
fn run_reproduces_torchvision_from_a_torch_saved_state_dict() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.safetensors");
    let p = |rel: &str| common::fixture(rel).display().to_string();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_tchvision"))
        .args(["run", "efficientnet_b0", "--num-classes", "10", "--weights", &p("effnet/efficientnet_b0_c10.pth")])
        .args(["--input", &p("effnet/run_input.safetensors"), "--output", &out.display().to_string()])
        .args(["--nodes", "features.3,features.7", "--device", "cpu"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let got: HashMap<String, Tensor> = Tensor::read_safetensors(&out).unwrap().into_iter().collect();
    let want = common::tensors("effnet/run_expected.safetensors");
    assert_eq!(got.len(), 3);
    for key in ["output", "features.3", "features.7"] {
        let e = rel_err(key, &got[key], &want[key]);
        assert!(e <= 1e-4, "{key}: relative error {e:e}");
    }
}

#[test]
fn bad_options_are_errors() {
    let vs = VarStore::new(Device::Cpu);
    let build = |kv: &str| create_model("efficientnet_b3", &vs.root(), &Options::default().parse(kv).unwrap());
    for (kv, says) in [
        ("stochastic_depth_prob=1.5", "stochastic_depth_prob"),
        ("dropout=-0.1", "dropout"),
        ("dropout=high", "expected a number"),
        ("width_mult=2", "dropout, stochastic_depth_prob"),
    ] {
        let err = build(kv).err().unwrap_or_else(|| panic!("{kv} accepted")).to_string();
        assert!(err.contains(says), "{kv}: {err}");
    }
}
