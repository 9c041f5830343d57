//! Helpers of tests/efficientnet.rs and tests/convnext.rs (fixtures: scripts/fixtures_effnet.py).
#![allow(dead_code)]

use tch::{nn::VarStore, Device, Kind, Tensor};
use tchvision::models::api::Options;
use tchvision::models::features::NodeOutputs;
use tchvision::nn::ModuleExt;
use tchvision::registry::create_model;

use super::common;

/// max |a − b| / max |b|; fails on a shape difference or a non-finite value.
pub fn rel_err(what: &str, ours: &Tensor, theirs: &Tensor) -> f64 {
    assert_eq!(ours.size(), theirs.size(), "{what}: shapes");
    let (a, b) = (ours.to_kind(Kind::Double), theirs.to_kind(Kind::Double));
    assert!(a.isfinite().all().int64_value(&[]) == 1, "{what}: ours is not finite");
    let scale = b.abs().max().double_value(&[]).max(1e-30);
    (a - b).abs().max().double_value(&[]) / scale
}

pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

/// Every node torchvision's `get_graph_node_names` lists for `name` (but the input and
/// get_attr nodes) is a valid query here and gives `create_feature_extractor`'s output.
pub fn graph_nodes_equal_torchvisions(name: &str) {
    let _s = common::serial();
    let j = common::json("effnet/nodes.json");
    let fx = common::tensors("effnet/nodes.safetensors");
    let case = &j["models"][name];
    let compared = strings(&case["compared"]);
    let all = strings(&case["graph_nodes"]);
    assert!(compared.len() + 1 >= all.len() * 8 / 10 && compared.len() > 80, "{name}: {} nodes", compared.len());
    let vs = VarStore::new(Device::Cpu);
    let model = create_model(name, &vs.root(), &Options::default()).unwrap();
    common::seed_state(model.as_ref(), j["seed_base"].as_i64().unwrap());
    tch::manual_seed(j["input_seed"].as_i64().unwrap());
    let x = Tensor::randn([1, 3, 35, 43], (Kind::Float, Device::Cpu));
    model.eval();
    let (_, outs) = tch::no_grad(|| model.forward_nodes(&x, false, &compared)).unwrap();
    assert_eq!(outs.len(), compared.len());
    for (n, ours) in &outs {
        let e = rel_err(n, ours, &fx[&format!("{name}.node.{n}")]);
        assert!(e <= 1e-4, "{name} node {n}: relative error {e:e}");
    }
}

/// torchvision's `get_model(name, **kwargs)` after `torch.manual_seed(0)`, against ours with the
/// same options: eval logits, train-mode logits after the same seed, buffers after the step.
pub fn options_equal_torchvisions(name: &str) {
    let _s = common::serial();
    let j = common::json("effnet/options.json");
    let fx = common::tensors("effnet/options.safetensors");
    let case = &j["models"][name];
    let mut o = Options::default();
    for (k, v) in case["kwargs"].as_object().unwrap() {
        o = o.parse(&format!("{k}={v}")).unwrap();
    }
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let model = create_model(name, &vs.root(), &o).unwrap();
    tch::manual_seed(j["input_seed"].as_i64().unwrap());
    let x = Tensor::randn([2, 3, 33, 41], (Kind::Float, Device::Cpu));
    model.eval();
    let y = tch::no_grad(|| model.try_forward(&x)).unwrap();
    let e = rel_err("eval", &y, &fx[&format!("{name}.eval")]);
    assert!(e <= 1e-4, "{name} eval logits: relative error {e:e}");
    model.train();
    tch::manual_seed(j["train_seed"].as_i64().unwrap());
    let y = tch::no_grad(|| model.try_forward(&x)).unwrap();
    let e = rel_err("train", &y, &fx[&format!("{name}.train")]);
    assert!(e <= 1e-4, "{name} train logits: relative error {e:e}");
    let ours: Vec<String> = model.named_buffers().into_iter().map(|(k, _)| k).collect();
    assert_eq!(ours, strings(&case["buffers"]), "{name}: buffers");
    for (k, t) in model.named_buffers() {
        let theirs = &fx[&format!("{name}.state.{k}")];
        if t.is_floating_point() {
            let e = rel_err(&k, &t, theirs);
            assert!(e <= 1e-4, "{name} {k} after the step: relative error {e:e}");
        } else {
            assert!(t.equal(theirs), "{name} {k} after the step");
        }
    }
}
