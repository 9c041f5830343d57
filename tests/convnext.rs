//! ConvNeXt beyond the generic zoo tests (tests/zoo.rs), against torchvision
//! (scripts/fixtures_effnet.py): every node of torchvision's feature-extraction graph (the
//! LayerNorm2d steps `permute`, `layer_norm`, `permute_1` included) answers a query with
//! torchvision's value; the builder options `layer_scale` and `stochastic_depth_prob` change the
//! model as torchvision's keyword arguments do (its own initialisation after the same seed,
//! eval and train-mode outputs with the stochastic-depth masks); bad options are errors.
mod common;
mod effnet;

use effnet::{graph_nodes_equal_torchvisions, options_equal_torchvisions};
use tch::{nn::VarStore, Device, Kind, Tensor};
use tchvision::models::api::Options;
use tchvision::registry::create_model;

#[test]
fn convnext_tiny_graph_nodes_equal_torchvisions() {
    graph_nodes_equal_torchvisions("convnext_tiny");
}

#[test]
fn layer_scale_and_stochastic_depth_options_equal_torchvisions() {
    options_equal_torchvisions("convnext_tiny");
}

#[test]
fn feature_info_strides_are_the_stage_outputs() {
    let _s = common::serial();
    let vs = VarStore::new(Device::Cpu);
    let model = create_model("convnext_small", &vs.root(), &Options::default()).unwrap();
    let x = Tensor::zeros([1, 3, 64, 96], (Kind::Float, Device::Cpu));
    let (_, stages) = tch::no_grad(|| model.forward_stages(&x, false)).unwrap();
    let got: Vec<(i64, i64, Vec<i64>)> = stages.iter().map(|(i, t)| (i.num_chs, i.reduction, t.size())).collect();
    let want: Vec<(i64, i64, Vec<i64>)> =
        [(96, 4), (192, 8), (384, 16), (768, 32)].iter().map(|&(c, r)| (c, r, vec![1, c, 64 / r, 96 / r])).collect();
    assert_eq!(got, want);
}

#[test]
fn bad_options_are_errors() {
    let vs = VarStore::new(Device::Cpu);
    let build = |kv: &str| create_model("convnext_tiny", &vs.root(), &Options::default().parse(kv).unwrap());
    for (kv, says) in [
        ("stochastic_depth_prob=2", "stochastic_depth_prob"),
        ("layer_scale=tiny", "expected a number"),
        ("dropout=0.2", "layer_scale"),
    ] {
        let err = build(kv).err().unwrap_or_else(|| panic!("{kv} accepted")).to_string();
        assert!(err.contains(says), "{kv}: {err}");
    }
}
