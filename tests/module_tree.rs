//! The module tree against torch's `nn.Module` (fixtures from scripts/fixtures_layers.py):
//! named_children, named_modules (paths and class names), named_parameters, named_buffers and
//! state_dict (names, shapes, dtypes, order), the order `apply` visits, `get_submodule`, for the
//! seed's Yolo_v1 and a nested Sequential; VarStore names are the state-dict keys; train()/eval()
//! drive Dropout and BatchNorm as in torch.

mod common;

use common::{assert_close, json, tensors};
use serde_json::{json, Value};
use tch::{nn::Path, nn::VarStore, Device, Kind, Tensor};
use tchvision::models::seed::Yolo_v1;
use tchvision::nn::*;
use tchvision::Error;

fn dtype(k: Kind) -> &'static str {
    match k {
        Kind::Float => "float32",
        Kind::Int64 => "int64",
        other => panic!("unexpected kind {other:?}"),
    }
}

fn metas(v: &[(String, Tensor)]) -> Value {
    v.iter().map(|(k, t)| json!([k, t.size(), dtype(t.kind())])).collect()
}

/// Asserts that our module tree reports exactly what torch's does.
fn check_structure(what: &str, m: &dyn Module, s: &Value) {
    let modules: Value = m.named_modules().iter().map(|(p, m)| json!([p, m.class_name()])).collect();
    assert_eq!(modules, s["modules"], "{what}: named_modules (paths and class names)");
    let children: Value = m.named_children().iter().map(|(n, c)| json!([n, c.class_name()])).collect();
    assert_eq!(children, s["children"], "{what}: named_children");
    assert_eq!(metas(&m.named_parameters()), s["parameters"], "{what}: named_parameters");
    assert_eq!(metas(&m.named_buffers()), s["buffers"], "{what}: named_buffers");
    assert_eq!(metas(&m.state_dict()), s["state_dict"], "{what}: state_dict");
    let mut order = Vec::new();
    m.apply(|path, _| {
        order.push(Value::from(path));
        Ok(())
    })
    .unwrap();
    assert_eq!(Value::from(order), s["apply_order"], "{what}: apply order (children before parents)");
}

/// VarStore names are the state-dict keys; parameters are its trainable variables, buffers not.
fn check_var_store(what: &str, vs: &VarStore, m: &dyn Module) {
    let mut vs_keys: Vec<String> = vs.variables().into_keys().collect();
    let mut sd_keys: Vec<String> = m.state_dict().into_iter().map(|(k, _)| k).collect();
    vs_keys.sort();
    sd_keys.sort();
    assert_eq!(vs_keys, sd_keys, "{what}: VarStore names vs state_dict keys");
    assert_eq!(vs.trainable_variables().len(), m.named_parameters().len(), "{what}: trainable variables");
    let vars = vs.variables();
    for (k, p) in m.named_parameters() {
        assert!(p.requires_grad(), "{what}: parameter {k} does not require grad");
        assert_eq!(p.data_ptr(), vars[&k].data_ptr(), "{what}: {k} is not the VarStore's tensor");
    }
    for (k, b) in m.named_buffers() {
        assert!(!b.requires_grad(), "{what}: buffer {k} requires grad");
        assert_eq!(b.data_ptr(), vars[&k].data_ptr(), "{what}: {k} is not the VarStore's tensor");
    }
}

fn case(name: &str) -> Value {
    json("layers/cases.json").as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone()
}

/// The fixture's `sequential_nested`: Sequential(Conv2d, BatchNorm2d, ReLU, Sequential(Conv2d,
/// GroupNorm, Dropout, Sequential(SiLU)), AdaptiveAvgPool2d, Flatten, Linear).
fn nested(p: &Path) -> Sequential {
    let inner = |p: &Path| {
        Ok(Sequential::builder(p.clone())
            .add(|p| Conv2d::new(p, 4, 4, 1, Conv2dConfig::default().bias(false)))?
            .add(|p| GroupNorm::new(p, 2, 4))?
            .add(|p| Dropout::new(p, 0.5))?
            .add(|p| Ok(Sequential::builder(p.clone()).add(SiLU::new)?.build()))?
            .build())
    };
    Sequential::builder(p.clone())
        .add(|p| Conv2d::new(p, 3, 4, 3, Conv2dConfig::default().padding(1)))
        .and_then(|b| b.add(|p| BatchNorm2d::new(p, 4, Default::default())))
        .and_then(|b| b.add(ReLU::new))
        .and_then(|b| b.add(inner))
        .and_then(|b| b.add(|p| AdaptiveAvgPool2d::new(p, 2)))
        .and_then(|b| b.add(Flatten::new))
        .and_then(|b| b.add(|p| Linear::new(p, 16, 3)))
        .unwrap()
        .build()
}

#[test]
fn nested_sequential_tree_equals_torch() {
    let _rng = common::serial();
    let vs = VarStore::new(Device::Cpu);
    let net = nested(&vs.root());
    check_structure("nested Sequential", &net, &case("sequential_nested")["structure"]);
    check_var_store("nested Sequential", &vs, &net);
    // The same tree one level down, at a prefix: paths and VarStore names carry it.
    let vs2 = VarStore::new(Device::Cpu);
    let net2 = nested(&(vs2.root() / "backbone"));
    let keys: Vec<String> = net2.state_dict().into_iter().map(|(k, _)| k).collect();
    let mut vs_keys: Vec<String> = vs2.variables().into_keys().collect();
    vs_keys.sort();
    let mut want: Vec<String> = keys.iter().map(|k| format!("backbone.{k}")).collect();
    want.sort();
    assert_eq!(vs_keys, want);
    assert_eq!(net2.path(), "backbone");
}

#[test]
fn get_submodule_walks_dotted_paths() {
    let _rng = common::serial();
    let vs = VarStore::new(Device::Cpu);
    let net = nested(&vs.root());
    assert_eq!(net.get_submodule("").unwrap().kind(), ModuleKind::Sequential);
    assert_eq!(net.get_submodule("3").unwrap().kind(), ModuleKind::Sequential);
    assert_eq!(net.get_submodule("3.1").unwrap().kind(), ModuleKind::GroupNorm);
    assert_eq!(net.get_submodule("3.3.0").unwrap().kind(), ModuleKind::SiLU);
    assert_eq!(net.get_submodule("6").unwrap().parameter("weight").unwrap().size(), [3, 16]);
    for bad in ["7", "3.9", "0.weight", "3..1", "x"] {
        let err = net.get_submodule(bad).err().unwrap_or_else(|| panic!("{bad} should not exist"));
        assert!(matches!(err, Error::Unknown { .. }), "{bad}: {err:?}");
        assert!(err.to_string().contains(bad), "{bad}: {err}");
    }
}

#[test]
fn handles_share_storage_with_the_model() {
    let _rng = common::serial();
    let vs = VarStore::new(Device::Cpu);
    let net = nested(&vs.root());
    let x = Tensor::randn([1, 3, 5, 5], (Kind::Float, Device::Cpu));
    net.eval();
    let y0 = net.try_forward(&x).unwrap();
    // Through the state dict …
    {
        let _g = tch::no_grad_guard();
        let mut b = net.state_dict().into_iter().find(|(k, _)| k == "6.bias").unwrap().1;
        let _ = b.f_add_scalar_(1.0).unwrap();
    }
    let y1 = net.try_forward(&x).unwrap();
    assert_close("bias + 1", &y1, &(&y0 + 1.0), 1e-6, 1e-6);
    // … through parameter() and buffer() …
    let lin = net.get_submodule("6").unwrap();
    {
        let _g = tch::no_grad_guard();
        let _ = lin.parameter("bias").unwrap().f_sub_scalar_(1.0).unwrap();
        let _ = net.get_submodule("1").unwrap().buffer("running_mean").unwrap().f_fill_(0.5).unwrap();
    }
    assert!(net
        .state_dict()
        .iter()
        .any(|(k, v)| k == "1.running_mean" && v.equal(&Tensor::full([4], 0.5, (Kind::Float, Device::Cpu)))));
    assert!(net.get_submodule("1").unwrap().buffer("weight").is_none(), "weight is a parameter, not a buffer");
    assert!(net.get_submodule("1").unwrap().parameter("running_var").is_none());
    // … and the VarStore's variables are the same tensors.
    let v = vs.variables();
    assert!(v["1.running_mean"].equal(&Tensor::full([4], 0.5, (Kind::Float, Device::Cpu))));
}

#[test]
fn train_and_eval_drive_dropout_and_batchnorm_as_torch() {
    let _rng = common::serial();
    let c = case("sequential_nested");
    let t = tensors("layers/cases.safetensors");
    let vs = VarStore::new(Device::Cpu);
    let net = nested(&vs.root());
    common::copy_state(&net, &t, "sequential_nested/state/");
    let x0 = &t["sequential_nested/input0"];
    let x1 = &t["sequential_nested/input1"];

    // New modules are in training mode, as in torch.
    assert!(net.is_training());
    for (path, m) in net.named_modules() {
        if let Some(flag) = m.training_flag() {
            assert!(flag.get(), "{path} starts in eval mode");
        }
    }
    // Training: batch statistics, Dropout after the same seed as torch, running stats updated.
    let seeds = c["seeds"].as_array().unwrap();
    for (s, x) in [x0, x1].into_iter().enumerate() {
        tch::manual_seed(seeds[s].as_i64().unwrap());
        let y = net.try_forward(x).unwrap();
        assert_close(&format!("train step {s}"), &y, &t[&format!("sequential_nested/train{s}")], 1e-5, 1e-6);
    }
    for (k, v) in net.named_buffers() {
        let want = &t[&format!("sequential_nested/after_train/{k}")];
        assert_eq!(v.kind(), want.kind(), "{k}");
        assert_close(&format!("{k} after training"), &v, want, 1e-5, 1e-6);
    }
    let nbt = net.get_submodule("1").unwrap().buffer("num_batches_tracked").unwrap();
    assert_eq!((nbt.kind(), nbt.int64_value(&[])), (Kind::Int64, 2));

    // Eval: Dropout off, BatchNorm on its running statistics, which stay put; deterministic and
    // equal to torch's eval output.
    net.eval();
    assert!(!net.is_training());
    for (path, m) in net.named_modules() {
        if let Some(flag) = m.training_flag() {
            assert!(!flag.get(), "{path} still in training mode after eval()");
        }
    }
    let before: Vec<Tensor> = net.named_buffers().into_iter().map(|(_, b)| b.copy()).collect();
    tch::manual_seed(1);
    let y1 = net.try_forward(x0).unwrap();
    tch::manual_seed(2);
    let y2 = net.try_forward(x0).unwrap();
    assert!(y1.equal(&y2), "eval output depends on the generator");
    assert_close("eval", &y1, &t["sequential_nested/eval"], 1e-5, 1e-6);
    for ((k, b), b0) in net.named_buffers().into_iter().zip(&before) {
        assert!(b.equal(b0), "{k} changed in eval mode");
    }

    // eval() on a subtree only: the inner Dropout stops, the outer BatchNorm keeps training.
    net.train();
    net.get_submodule("3").unwrap().eval();
    assert!(net.get_submodule("1").unwrap().is_training());
    assert!(!net.get_submodule("3.2").unwrap().is_training());
    tch::manual_seed(5);
    let a = net.try_forward(x0).unwrap();
    tch::manual_seed(6);
    let b = net.try_forward(x0).unwrap();
    assert!(a.equal(&b), "with Dropout in eval mode, training output should not depend on the seed");
    net.get_submodule("3").unwrap().train();
    tch::manual_seed(5);
    let a = net.try_forward(x0).unwrap();
    tch::manual_seed(6);
    let b = net.try_forward(x0).unwrap();
    assert!(!a.equal(&b), "Dropout in training mode should depend on the seed");
}

#[test]
fn yolo_v1_tree_equals_torch() {
    let _rng = common::serial();
    let meta = json("layers/yolo.json");
    let vs = VarStore::new(Device::Cpu);
    let net = Yolo_v1::new(&vs.root(), 20).unwrap();
    check_structure("Yolo_v1", &net, &meta["structure"]);
    check_var_store("Yolo_v1", &vs, &net);
    assert_eq!(net.kind().name(), "Yolo_v1");
    assert_eq!(net.num_parameters(), meta["num_parameters"].as_i64().unwrap());
    for e in meta["get_submodule"].as_array().unwrap() {
        let path = e[0].as_str().unwrap();
        assert_eq!(net.get_submodule(path).unwrap().kind().name(), e[1].as_str().unwrap(), "get_submodule({path:?})");
    }
    // Every BatchNorm2d's num_batches_tracked is an int64 scalar, as in torch.
    let mut n = 0;
    for (k, b) in net.named_buffers() {
        if k.ends_with("num_batches_tracked") {
            assert_eq!((b.kind(), b.size()), (Kind::Int64, vec![]), "{k}");
            n += 1;
        }
    }
    assert_eq!(n, 3);
    // The named fields are the children.
    assert_eq!(net.get_submodule("conv_layer1").unwrap().named_modules().len(), net.conv_layer1.len() + 1);
    assert_eq!(net.conv_layer1.path(), "conv_layer1");
    // eval()/train() reach every Dropout and BatchNorm of the tree.
    net.eval();
    assert!(net.named_modules().iter().all(|(_, m)| m.training_flag().is_none_or(|f| !f.get())));
    net.train();
    assert!(net.named_modules().iter().all(|(_, m)| m.training_flag().is_none_or(|f| f.get())));
}
