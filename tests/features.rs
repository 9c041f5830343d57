//! Feature extraction against torchvision (fixtures of scripts/fixtures_resnet.py): node names
//! equal `get_graph_node_names`, node outputs equal `create_feature_extractor`'s on the same
//! weights and input, `feature_info` equals the real outputs, and the FPN equals
//! `torchvision.ops.FeaturePyramidNetwork`.
//!
//! Numerical parity is float32 with rtol 1e-4, atol 1e-5 (|ours − torch| ≤ atol + rtol·|torch|),
//! in eval mode with randomised BatchNorm statistics.

mod common;

use std::collections::HashMap;

use serde_json::Value;
use tch::{nn::VarStore, Device, Kind, Tensor};
use tchvision::models::api::{Model, Options as ModelOptions};
use tchvision::models::features::{FeatureInfo, NodeOutputs};
use tchvision::models::fpn::FeaturePyramidNetwork;
use tchvision::models::resnet::{ResNet, ResNetConfig};
use tchvision::nn::{Module, ModuleExt};
use tchvision::registry::create_model;
use tchvision::Error;

const RTOL: f64 = 1e-4;
const ATOL: f64 = 1e-5;

fn structure() -> Value {
    common::json("resnet/structure.json")
}

fn outputs() -> HashMap<String, Tensor> {
    common::tensors("resnet/outputs.safetensors")
}

fn out(o: &HashMap<String, Tensor>, k: &str) -> Tensor {
    o.get(k).unwrap_or_else(|| panic!("fixture tensor {k} missing")).shallow_clone()
}

fn resnet(cfg: &ResNetConfig, weights: &str) -> (VarStore, ResNet) {
    let vs = VarStore::new(Device::Cpu);
    let net = ResNet::new(&vs.root(), cfg).unwrap();
    common::copy_state(&net, &common::tensors(weights), "");
    net.eval();
    (vs, net)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[test]
fn node_names_are_torchvisions_graph_node_names() {
    let _s = common::serial();
    let st = structure();
    let xs = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
    for (name, cfg) in [("resnet18", ResNetConfig::resnet18()), ("resnet50", ResNetConfig::resnet50())] {
        let vs = VarStore::new(Device::Cpu);
        let net = ResNet::new(&vs.root(), &cfg).unwrap();
        for mode in ["train", "eval"] {
            net.set_training(mode == "train");
            let ours = net.graph_node_names(&xs, mode == "train").unwrap();
            assert_eq!(ours, strings(&st["graph_nodes"][name][mode]), "{name} {mode}");
        }
    }
}

#[test]
fn resnet50_nodes_equal_create_feature_extractor() {
    let _s = common::serial();
    let st = structure();
    let o = outputs();
    let (_vs, net) = resnet(&ResNetConfig::resnet50(), "resnet/resnet50.safetensors");
    let nodes = strings(&st["r50_nodes"]);
    let (logits, got) = net.forward_nodes(&out(&o, "x193"), false, &nodes).unwrap();
    common::assert_close("resnet50 logits", &logits, &out(&o, "resnet50.logits.x193"), RTOL, ATOL);
    assert_eq!(got.len(), nodes.len());
    // The nodes asked are every node torchvision's outputs hold.
    common::assert_covered("resnet50 nodes", &nodes, o.keys().filter_map(|k| k.strip_prefix("resnet50.node.")));
    for ((name, t), want) in got.iter().zip(&nodes) {
        assert_eq!(name, want, "outputs come in the order asked");
        common::assert_close(
            &format!("resnet50 node {name}"),
            t,
            &out(&o, &format!("resnet50.node.{name}")),
            RTOL,
            ATOL,
        );
    }
    // torchvision's extractor on the model with ReLU(inplace=True) returns, for a node that an
    // inplace ReLU consumes, the ReLU's output (the same tensor, overwritten).
    let (_, relu) = net.forward_nodes(&out(&o, "x193"), false, &["layer4.1.relu_2"]).unwrap();
    common::assert_close(
        "torchvision's inplace layer4.1.add = layer4.1.relu_2",
        &relu[0].1,
        &out(&o, "resnet50.inplace_node.layer4.1.add"),
        RTOL,
        ATOL,
    );
}

#[test]
fn resnet18_nodes_equal_create_feature_extractor_through_dyn_model() {
    let _s = common::serial();
    let st = structure();
    let o = outputs();
    let vs = VarStore::new(Device::Cpu);
    let m: Box<dyn Model> = create_model("resnet18", &vs.root(), &ModelOptions::default()).unwrap();
    common::copy_state(m.as_ref(), &common::tensors("resnet/resnet18.safetensors"), "");
    m.eval();
    let nodes = strings(&st["r18_nodes"]);
    let (logits, got) = m.forward_nodes(&out(&o, "x224"), false, &nodes).unwrap();
    common::assert_close("resnet18 logits", &logits, &out(&o, "resnet18.logits.x224"), RTOL, ATOL);
    common::assert_covered("resnet18 nodes", got.iter().map(|(n, _)| n), &nodes);
    for (name, t) in &got {
        common::assert_close(
            &format!("resnet18 node {name}"),
            t,
            &out(&o, &format!("resnet18.node.{name}")),
            RTOL,
            ATOL,
        );
    }
}

#[test]
fn unknown_node_is_an_error_listing_the_valid_ones() {
    let _s = common::serial();
    let vs = VarStore::new(Device::Cpu);
    let net = ResNet::new(&vs.root(), &ResNetConfig::resnet18()).unwrap();
    let xs = Tensor::randn([1, 3, 32, 32], (Kind::Float, Device::Cpu));
    for bad in ["layer5", "layer", "layer1.0.conv3", "layer1.2"] {
        match net.forward_nodes(&xs, false, &["layer1", bad]) {
            Err(Error::Unknown { what, name, hint }) => {
                assert_eq!((what, name.as_str()), ("node", bad));
                // 40 valid names, nearest first, then how many more there are.
                let names = net.graph_node_names(&xs, false).unwrap();
                let list = hint.strip_prefix("; expected one of (nearest first): ").expect(&hint);
                let (shown, rest) = list.split_once(", … and ").expect(&hint);
                let shown: Vec<&str> = shown.split(", ").collect();
                assert_eq!(shown.len(), 40, "{hint}");
                assert!(shown.iter().all(|s| names.iter().any(|n| n == s)), "only valid names: {hint}");
                assert_eq!(rest, format!("{} more ({} in all)", names.len() - 40, names.len()));
                // The first shown shares the longest prefix with the name asked for.
                let prefix = |c: &str| c.chars().zip(bad.chars()).take_while(|(a, b)| a == b).count();
                let best = names.iter().map(|n| prefix(n)).max().unwrap();
                assert!(best >= 5, "{bad}: some node starts with \"layer\"");
                assert_eq!(prefix(shown[0]), best, "{bad}: {hint}");
                if bad == "layer1.0.conv3" {
                    assert_eq!(shown[0], "layer1.0.conv1", "one edit away, first in graph order");
                }
            }
            other => panic!("{bad}: expected Error::Unknown, got {:?}", other.map(|_| ())),
        }
    }
    // prefixes made of whole components are nodes: the output of the last node inside
    let (_, got) = net.forward_nodes(&xs, false, &["layer1.1", "layer1.1.relu_1"]).unwrap();
    common::assert_close("layer1.1 = its last relu", &got[0].1, &got[1].1, 0.0, 0.0);
}

/// The channels and strides of feature_info are those of the actual outputs (size = ceil(input
/// / reduction)), timm's values for resnet50, and torchvision's output shapes.
#[test]
fn feature_info_matches_the_outputs() {
    let _s = common::serial();
    let o = outputs();
    let timm_r50 =
        [(64, 2, "relu"), (256, 4, "layer1"), (512, 8, "layer2"), (1024, 16, "layer3"), (2048, 32, "layer4")];
    let cases = [
        (ResNetConfig::resnet50(), timm_r50.to_vec()),
        (
            ResNetConfig::resnet50().replace_stride_with_dilation([false, true, true]),
            vec![(64, 2, "relu"), (256, 4, "layer1"), (512, 8, "layer2"), (1024, 8, "layer3"), (2048, 8, "layer4")],
        ),
        (
            ResNetConfig::resnet18(),
            vec![(64, 2, "relu"), (64, 4, "layer1"), (128, 8, "layer2"), (256, 16, "layer3"), (512, 32, "layer4")],
        ),
    ];
    let xs = out(&o, "x193");
    for (cfg, want) in cases {
        let vs = VarStore::new(Device::Cpu);
        let net = ResNet::new(&vs.root(), &cfg).unwrap();
        net.eval();
        let info = Model::feature_info(&net);
        let want: Vec<FeatureInfo> = want.iter().map(|&(c, r, m)| FeatureInfo::new(c, r, m)).collect();
        assert_eq!(info, want);
        let (_, stages) = net.forward_stages(&xs, false).unwrap();
        for (i, t) in stages {
            let r = i.reduction;
            assert_eq!(t.size(), [1, i.num_chs, (193 + r - 1) / r, (257 + r - 1) / r], "{}", i.module);
        }
    }
    // torchvision's resnet50 outputs at those nodes have the same shapes
    let vs = VarStore::new(Device::Cpu);
    let net = ResNet::new(&vs.root(), &ResNetConfig::resnet50()).unwrap();
    for i in Model::feature_info(&net) {
        let node = if i.module == "relu" { "conv1".to_string() } else { i.module.clone() };
        let t = out(&o, &format!("resnet50.node.{node}"));
        assert_eq!(t.size()[1], i.num_chs, "{}", i.module);
        assert_eq!(t.size()[2], (193 + i.reduction - 1) / i.reduction, "{}", i.module);
    }
}

fn fpn_inputs(o: &HashMap<String, Tensor>) -> Vec<(String, Tensor)> {
    (1..=4).map(|i| (format!("layer{i}"), out(o, &format!("resnet50.node.layer{i}")))).collect()
}

#[test]
fn fpn_matches_torchvision() {
    let _s = common::serial();
    let st = structure();
    let o = outputs();
    let vs = VarStore::new(Device::Cpu);
    let fpn = FeaturePyramidNetwork::new(&vs.root(), &[256, 512, 1024, 2048], 64).unwrap();
    // structure: keys, shapes, dtypes in order, named_modules with classes
    let ours: Vec<Value> = fpn.state_dict().iter().map(|(k, t)| serde_json::json!([k, t.size(), "float32"])).collect();
    assert_eq!(&ours, st["fpn"]["state_dict"].as_array().unwrap());
    let ours: Vec<Value> = fpn.named_modules().iter().map(|(p, m)| serde_json::json!([p, m.class_name()])).collect();
    assert_eq!(&ours, st["fpn"]["modules"].as_array().unwrap());

    common::copy_state(&fpn, &o, "fpn.state.");
    // on torchvision's resnet50 features
    let got = fpn.forward_maps(&fpn_inputs(&o)).unwrap();
    let levels: Vec<&str> = o.keys().filter_map(|k| k.strip_prefix("fpn.out.")).collect();
    common::assert_covered("FPN outputs", got.iter().map(|(n, _)| n), &levels);
    for (name, t) in &got {
        common::assert_close(&format!("fpn {name}"), t, &out(&o, &format!("fpn.out.{name}")), RTOL, ATOL);
    }
    // end to end on our resnet50's stages
    let (_vs, net) = resnet(&ResNetConfig::resnet50(), "resnet/resnet50.safetensors");
    let (_, stages) = net.forward_stages(&out(&o, "x193"), false).unwrap();
    let maps: Vec<(String, Tensor)> = stages.into_iter().skip(1).map(|(i, t)| (i.module, t)).collect();
    let fpn2 = FeaturePyramidNetwork::for_stages(&(vs.root() / "fpn2"), &Model::feature_info(&net)[1..], 64).unwrap();
    common::copy_state(&fpn2, &o, "fpn.state.");
    let got2 = fpn2.forward_maps(&maps).unwrap();
    common::assert_covered("resnet50 → FPN outputs", got2.iter().map(|(n, _)| n), &levels);
    for (name, t) in got2 {
        common::assert_close(&format!("resnet50 → fpn {name}"), &t, &out(&o, &format!("fpn.out.{name}")), RTOL, ATOL);
    }
    assert!(fpn.forward_maps(&fpn_inputs(&o)[1..]).is_err(), "wrong number of levels");
    assert!(fpn.try_forward_t(&out(&o, "x193"), false).is_err());
}

#[test]
fn fpn_init_after_a_seed_equals_torchvisions() {
    let _s = common::serial();
    let init = common::json("resnet/init.json");
    tch::manual_seed(2);
    let vs = VarStore::new(Device::Cpu);
    let fpn = FeaturePyramidNetwork::new(&vs.root(), &[256, 512, 1024, 2048], 64).unwrap();
    let torch = init["fpn"].as_object().unwrap();
    assert_eq!(fpn.state_dict().len(), torch.len());
    for (k, t) in fpn.state_dict() {
        let e = &torch[&k];
        let sum = t.sum(Kind::Double).double_value(&[]);
        let abs = t.abs().sum(Kind::Double).double_value(&[]);
        assert!((sum - e["sum"].as_f64().unwrap()).abs() <= 1e-5 * (1.0 + sum.abs()), "{k}: sum");
        assert!((abs - e["abs_sum"].as_f64().unwrap()).abs() <= 1e-5 * (1.0 + abs), "{k}: abs sum");
    }
}
