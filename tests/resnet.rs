//! torchvision's ResNet family against torchvision itself (fixtures of
//! scripts/fixtures_resnet.py): structure of every model; for every model of the family, logits
//! at 224×224 and 193×257 and the outputs of layer1…layer4 on the same weights (stored for
//! resnet18 and resnet50, made from a seed per key on both sides for the others); a train-mode
//! step, init after a seed, the registry.
//!
//! Numerical parity is float32 with rtol 1e-4, atol 1e-5 (|ours − torch| ≤ atol + rtol·|torch|),
//! in eval mode with randomised BatchNorm statistics unless said otherwise.

mod common;

use std::collections::HashMap;

use serde_json::Value;
use tch::{nn::VarStore, Device, Kind, Tensor};
use tchvision::models::api::{Model, Options as ModelOptions};
use tchvision::models::features::NodeOutputs;
use tchvision::models::resnet::{BlockKind, NormKind, ResNet, ResNetConfig};
use tchvision::nn::{Module, ModuleExt};
use tchvision::registry::{self, create_model, list_models};
use tchvision::Error;

const RTOL: f64 = 1e-4;
const ATOL: f64 = 1e-5;

/// The stage nodes compared for every model.
const STAGES: [&str; 4] = ["layer1", "layer2", "layer3", "layer4"];

fn structure() -> Value {
    common::json("resnet/structure.json")
}

fn outputs() -> HashMap<String, Tensor> {
    common::tensors("resnet/outputs.safetensors")
}

fn out(o: &HashMap<String, Tensor>, k: &str) -> Tensor {
    o.get(k).unwrap_or_else(|| panic!("fixture tensor {k} missing")).shallow_clone()
}

fn build(cfg: &ResNetConfig) -> (VarStore, ResNet) {
    let vs = VarStore::new(Device::Cpu);
    let net = ResNet::new(&vs.root(), cfg).expect("building the ResNet");
    (vs, net)
}

fn dtype(k: Kind) -> &'static str {
    match k {
        Kind::Float => "float32",
        Kind::Int64 => "int64",
        _ => "other",
    }
}

/// Our state dict (key, shape, dtype) and named_modules (path, class) against torch's.
fn assert_structure(what: &str, m: &dyn Module, torch: &Value) {
    let ours: Vec<Value> =
        m.state_dict().iter().map(|(k, t)| serde_json::json!([k, t.size(), dtype(t.kind())])).collect();
    let theirs = torch["state_dict"].as_array().unwrap();
    assert_eq!(ours.len(), theirs.len(), "{what}: number of state-dict entries");
    for (a, b) in ours.iter().zip(theirs) {
        assert_eq!(a, b, "{what}: state dict (key, shape, dtype) in order");
    }
    let ours: Vec<Value> = m.named_modules().iter().map(|(p, m)| serde_json::json!([p, m.class_name()])).collect();
    assert_eq!(&ours, torch["modules"].as_array().unwrap(), "{what}: named_modules (path, class)");
}

fn x(o: &HashMap<String, Tensor>, k: &str) -> Tensor {
    out(o, k)
}

/// Our layer1…layer4 on `input` against torch's (`want(stage)`), with the shapes of `cfg`:
/// 64·2^k·expansion channels (k = 0…3) at stride 4·2^k.
fn assert_stages(what: &str, net: &ResNet, input: &Tensor, want: impl Fn(&str) -> Tensor) {
    let (_, got) = net.forward_nodes(input, false, &STAGES).unwrap();
    let [n, _, h, w] = input.size()[..] else { panic!("{what}: input is not NCHW") };
    let (mut c, mut h, mut w) = (64 * net.config.block.expansion(), (h + 1) / 2, (w + 1) / 2);
    for ((name, t), stage) in got.iter().zip(STAGES) {
        assert_eq!(name, stage, "{what}: nodes in the order asked");
        if stage == "layer1" {
            (h, w) = ((h + 1) / 2, (w + 1) / 2); // the stem's maxpool
        } else {
            (c, h, w) = (2 * c, (h + 1) / 2, (w + 1) / 2);
        }
        assert_eq!(t.size(), [n, c, h, w], "{what} {stage}: shape");
        common::assert_close(&format!("{what} {stage}"), t, &want(stage), RTOL, ATOL);
    }
}

#[test]
fn every_registered_model_has_torchvisions_structure_and_runs() {
    let _s = common::serial();
    let st = structure();
    let torch_models = st["models"].as_object().unwrap();
    let mut names: Vec<&str> = list_models().iter().filter(|m| m.family == "resnet").map(|m| m.name).collect();
    names.sort();
    let mut expected: Vec<&str> = torch_models.keys().map(|s| s.as_str()).collect();
    expected.sort();
    assert_eq!(names, expected, "the registry's resnet family is torchvision's");
    let input = Tensor::randn([1, 3, 64, 64], (Kind::Float, Device::Cpu));
    for name in expected {
        let vs = VarStore::new(Device::Cpu);
        let m = create_model(name, &vs.root(), &ModelOptions::default()).unwrap();
        assert_structure(name, m.as_ref(), &torch_models[name]);
        // VarStore holds the same tensors under the same names.
        let vars = vs.variables();
        for (k, _) in m.named_parameters() {
            assert!(vars.contains_key(&k), "{name}: {k} not in the VarStore");
        }
        m.eval();
        let y = m.try_forward(&input).unwrap();
        assert_eq!(y.size(), [1, 1000], "{name}: logits shape");
        assert_eq!(m.num_classes(), 1000);
    }
}

#[test]
fn variants_have_torchvisions_structure() {
    let _s = common::serial();
    let st = structure();
    let v = &st["variants"];
    let cases = [
        ("resnet50_dilated", ResNetConfig::resnet50().replace_stride_with_dilation([false, true, true])),
        ("resnet50_gn32", ResNetConfig::resnet50().norm(NormKind::GroupNorm { num_groups: 32 })),
        ("resnet18_classes10", ResNetConfig::resnet18().num_classes(10)),
        ("resnet18_zero_init", ResNetConfig::resnet18().zero_init_residual(true)),
    ];
    assert_eq!(cases.len(), v.as_object().unwrap().len(), "every variant of the fixture is tested");
    for (name, cfg) in cases {
        let (_vs, net) = build(&cfg);
        assert_structure(name, &net, &v[name]);
    }
}

#[test]
fn resnet18_logits_match_torchvision() {
    let _s = common::serial();
    let o = outputs();
    let (_vs, net) = build(&ResNetConfig::resnet18());
    common::copy_state(&net, &common::tensors("resnet/resnet18.safetensors"), "");
    net.eval();
    for size in ["x224", "x193"] {
        let y = net.try_forward(&x(&o, size)).unwrap();
        common::assert_close(
            &format!("resnet18 logits {size}"),
            &y,
            &out(&o, &format!("resnet18.logits.{size}")),
            RTOL,
            ATOL,
        );
    }
    assert_stages("resnet18 (x224)", &net, &x(&o, "x224"), |k| out(&o, &format!("resnet18.node.{k}")));
}

#[test]
fn resnet50_logits_match_torchvision() {
    let _s = common::serial();
    let o = outputs();
    let (_vs, net) = build(&ResNetConfig::resnet50());
    common::copy_state(&net, &common::tensors("resnet/resnet50.safetensors"), "");
    net.eval();
    for size in ["x224", "x193"] {
        let y = net.try_forward(&x(&o, size)).unwrap();
        common::assert_close(
            &format!("resnet50 logits {size}"),
            &y,
            &out(&o, &format!("resnet50.logits.{size}")),
            RTOL,
            ATOL,
        );
    }
    assert_stages("resnet50 (x193)", &net, &x(&o, "x193"), |k| out(&o, &format!("resnet50.node.{k}")));
    // forward = forward_head ∘ forward_features, and train=false means eval even in train mode
    net.train();
    let f = net.forward_features(&x(&o, "x224"), false).unwrap();
    assert_eq!(f.size(), [2, 2048, 7, 7]);
    let y = net.forward_head(&f, false).unwrap();
    common::assert_close("resnet50 head(features)", &y, &out(&o, "resnet50.logits.x224"), RTOL, ATOL);
}

#[test]
fn dilated_resnet50_matches_torchvision() {
    let _s = common::serial();
    let o = outputs();
    let (_vs, net) = build(&ResNetConfig::resnet50().replace_stride_with_dilation([false, true, true]));
    common::copy_state(&net, &common::tensors("resnet/resnet50.safetensors"), "");
    net.eval();
    let input = x(&o, "x193");
    let f = net.forward_features(&input, false).unwrap();
    assert_eq!(f.size(), [1, 2048, 25, 33], "layer4 at stride 8");
    let y = net.forward_head(&f, false).unwrap();
    common::assert_close("dilated resnet50 logits", &y, &out(&o, "resnet50_dilated.logits.x193"), RTOL, ATOL);
}

#[test]
fn train_mode_step_matches_torchvision() {
    let _s = common::serial();
    let o = outputs();
    let (_vs, net) = build(&ResNetConfig::resnet18());
    common::copy_state(&net, &common::tensors("resnet/resnet18.safetensors"), "");
    net.train();
    let y = net.try_forward(&x(&o, "xtrain")).unwrap();
    common::assert_close("train-mode logits", &y, &out(&o, "resnet18.train.logits"), RTOL, ATOL);
    let sd: HashMap<String, Tensor> = net.state_dict().into_iter().collect();
    for key in ["bn1.running_mean", "layer1.0.bn1.running_mean", "layer4.1.bn2.running_var"] {
        common::assert_close(key, &sd[key], &out(&o, &format!("resnet18.train.{key}")), RTOL, ATOL);
    }
    let k = "layer4.1.bn2.num_batches_tracked";
    assert_eq!(sd[k].int64_value(&[]), out(&o, &format!("resnet18.train.{k}")).int64_value(&[]), "{k}");
}

/// The seeded recipe of scripts/fixtures_resnet.py for state-dict entry `i` (`None`: not
/// seeded): conv and fc weights `randn · sqrt(2 / fan_in)`, `fc.bias` `randn · 0.01`, and with
/// `norms` every other 1-D `…weight` `1 + 0.1 · randn` and `…bias` `0.1 · randn`, each after
/// `manual_seed(base + i)` (libtorch's generator gives the same numbers as torch's).
fn seeded(base: i64, i: usize, k: &str, t: &Tensor, norms: bool) -> Option<Tensor> {
    let randn = || {
        tch::manual_seed(base + i as i64);
        Tensor::randn(t.size(), (Kind::Float, Device::Cpu))
    };
    if t.dim() >= 2 {
        let fan_in = t.size()[1..].iter().product::<i64>();
        Some(randn() * (2.0 / fan_in as f64).sqrt())
    } else if k == "fc.bias" {
        Some(randn() * 0.01)
    } else if norms && t.dim() == 1 && k.ends_with("weight") {
        Some(randn() * 0.1 + 1.0)
    } else if norms && t.dim() == 1 && k.ends_with("bias") {
        Some(randn() * 0.1)
    } else {
        None
    }
}

/// Fills `net` with the seeded recipe (the rest from `norms[prefix + key]`), checking each
/// seeded tensor's sum against torch's.
fn fill_seeded(net: &ResNet, st: &Value, name: &str, all: bool, norms: &HashMap<String, Tensor>) {
    let base = st["seed_base"].as_i64().unwrap();
    let sums = st["seeded_sums"][name].as_object().unwrap();
    let _g = tch::no_grad_guard();
    let mut n = 0;
    for (i, (k, mut t)) in net.state_dict().into_iter().enumerate() {
        match seeded(base, i, &k, &t, all) {
            Some(w) => {
                t.copy_(&w);
                let ours = w.sum(Kind::Double).double_value(&[]);
                let theirs = sums[&k].as_f64().unwrap();
                assert!(
                    (ours - theirs).abs() <= 1e-6 * (1.0 + theirs.abs()),
                    "{name} {k}: seeded sum {ours} vs torch {theirs}"
                );
                n += 1;
            }
            None => t.copy_(&norms[&format!("{name}.{k}")]),
        }
    }
    assert_eq!(n, sums.len(), "{name}: seeded tensors");
}

/// A model's configuration (one of `ResNetConfig`'s constructors).
type Config = fn() -> ResNetConfig;

/// The models of the family whose weights are seeded (scripts/fixtures_resnet.py's SEEDED).
const SEEDED: [(&str, Config); 8] = [
    ("resnet34", ResNetConfig::resnet34),
    ("resnet101", ResNetConfig::resnet101),
    ("resnet152", ResNetConfig::resnet152),
    ("resnext50_32x4d", ResNetConfig::resnext50_32x4d),
    ("resnext101_32x8d", ResNetConfig::resnext101_32x8d),
    ("resnext101_64x4d", ResNetConfig::resnext101_64x4d),
    ("wide_resnet50_2", ResNetConfig::wide_resnet50_2),
    ("wide_resnet101_2", ResNetConfig::wide_resnet101_2),
];

/// Every model of the registry's resnet family has its numerical parity test: resnet18 and
/// resnet50 on stored weights, the others (the fixture's SEEDED, which are ours) seeded.
#[test]
fn every_model_of_the_family_is_compared_with_torchvision() {
    let st = structure();
    let seeded: Vec<&str> = SEEDED.iter().map(|(n, _)| *n).collect();
    let theirs: Vec<&str> = st["seeded"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(seeded, theirs, "the seeded models are the fixture's");
    let mut tested: Vec<&str> = ["resnet18", "resnet50"].into_iter().chain(seeded).collect();
    tested.sort();
    let mut family: Vec<&str> = list_models().iter().filter(|m| m.family == "resnet").map(|m| m.name).collect();
    family.sort();
    assert_eq!(tested, family, "every model of the family is compared");
}

/// One model of SEEDED: conv and fc weights made by libtorch's generator from a seed per key
/// (the recipe of scripts/fixtures_resnet.py, each checked by its sum), norms from the fixture;
/// logits on x224[:1] (through `forward_nodes`) and x193 (through `forward`), and layer1…layer4
/// on x224[:1]. One model at a time (the lock), dropped before the next.
fn seeded_model_matches_torchvision(name: &str) {
    let _s = common::serial();
    let cfg = SEEDED.iter().find(|(n, _)| *n == name).map(|(_, c)| c()).unwrap();
    let st = structure();
    let o = outputs();
    let fam = common::tensors("resnet/family.safetensors");
    let (_vs, net) = build(&cfg);
    fill_seeded(&net, &st, name, false, &common::tensors("resnet/seeded_norms.safetensors"));
    net.eval();
    let x224 = x(&o, "x224").narrow(0, 0, 1);
    let (y, _) = net.forward_nodes(&x224, false, &[] as &[&str]).unwrap();
    common::assert_close(&format!("{name} logits x224"), &y, &out(&fam, &format!("{name}.logits.x224")), RTOL, ATOL);
    let y = net.try_forward(&x(&o, "x193")).unwrap();
    common::assert_close(&format!("{name} logits x193"), &y, &out(&fam, &format!("{name}.logits.x193")), RTOL, ATOL);
    assert_stages(&format!("{name} (x224)"), &net, &x224, |k| out(&fam, &format!("{name}.node.{k}.x224")));
}

#[test]
fn resnet34_matches_torchvision() {
    seeded_model_matches_torchvision("resnet34");
}

#[test]
fn resnet101_matches_torchvision() {
    seeded_model_matches_torchvision("resnet101");
}

#[test]
fn resnet152_matches_torchvision() {
    seeded_model_matches_torchvision("resnet152");
}

#[test]
fn resnext50_32x4d_matches_torchvision() {
    seeded_model_matches_torchvision("resnext50_32x4d");
}

#[test]
fn resnext101_32x8d_matches_torchvision() {
    seeded_model_matches_torchvision("resnext101_32x8d");
}

#[test]
fn resnext101_64x4d_matches_torchvision() {
    seeded_model_matches_torchvision("resnext101_64x4d");
}

#[test]
fn wide_resnet50_2_matches_torchvision() {
    seeded_model_matches_torchvision("wide_resnet50_2");
}

#[test]
fn wide_resnet101_2_matches_torchvision() {
    seeded_model_matches_torchvision("wide_resnet101_2");
}

/// ResNet-18 with `norm_layer=partial(nn.GroupNorm, 32)`, every tensor seeded.
#[test]
fn groupnorm_resnet18_matches_torchvision() {
    let _s = common::serial();
    let st = structure();
    let o = outputs();
    let (_vs, net) = build(&ResNetConfig::resnet18().norm(NormKind::GroupNorm { num_groups: 32 }));
    fill_seeded(&net, &st, "resnet18_gn32", true, &HashMap::new());
    let y = net.try_forward_t(&x(&o, "x193"), false).unwrap();
    common::assert_close("resnet18 GroupNorm logits", &y, &out(&o, "resnet18_gn32.logits.x193"), RTOL, ATOL);
}

/// Same seed, same weights: modules are created and initialised in torchvision's order, with
/// its init (kaiming_normal fan_out for convs, BN 1/0, Linear's default, zero_init_residual).
#[test]
fn init_after_a_seed_equals_torchvisions() {
    let _s = common::serial();
    let init = common::json("resnet/init.json");
    for (case, seed, cfg) in [
        ("resnet18", 0, ResNetConfig::resnet18()),
        ("resnet50_zero_init", 1, ResNetConfig::resnet50().zero_init_residual(true)),
    ] {
        tch::manual_seed(seed);
        let (_vs, net) = build(&cfg);
        let torch = init[case].as_object().unwrap();
        let ours: Vec<(String, Tensor)> = net.state_dict().into_iter().filter(|(_, t)| t.is_floating_point()).collect();
        assert_eq!(ours.len(), torch.len(), "{case}: float tensors");
        for (k, t) in ours {
            let e = &torch[&k];
            let sum = t.sum(Kind::Double).double_value(&[]);
            let abs = t.abs().sum(Kind::Double).double_value(&[]);
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * (1.0 + b.abs());
            assert!(close(sum, e["sum"].as_f64().unwrap()), "{case} {k}: sum {sum} vs {}", e["sum"]);
            assert!(close(abs, e["abs_sum"].as_f64().unwrap()), "{case} {k}: abs sum {abs} vs {}", e["abs_sum"]);
            let first =
                Vec::<f64>::try_from(t.flatten(0, -1).narrow(0, 0, 4.min(t.numel() as i64)).to_kind(Kind::Double))
                    .unwrap();
            let want: Vec<f64> = e["first"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            // serde_json parses floats to within an ulp; the values are float32 widened to f64
            for (a, b) in first.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-12 * b.abs(), "{case} {k}: first values {first:?} vs {want:?}");
            }
        }
    }
}

#[test]
fn zero_init_residual_zeroes_the_last_norm_of_each_branch() {
    let _s = common::serial();
    for cfg in [ResNetConfig::resnet18().zero_init_residual(true), ResNetConfig::resnet50().zero_init_residual(true)] {
        let (_vs, net) = build(&cfg);
        let last = if cfg.block == BlockKind::Basic { ".bn2.weight" } else { ".bn3.weight" };
        let mut zeroed = 0;
        for (k, t) in net.named_parameters() {
            let is_norm_weight = k.ends_with("weight") && t.dim() == 1;
            if !is_norm_weight {
                continue;
            }
            let zero = t.abs().sum(Kind::Double).double_value(&[]) == 0.0;
            let last_of_branch = k.starts_with("layer") && k.ends_with(last);
            assert_eq!(zero, last_of_branch, "{k}");
            zeroed += zero as usize;
        }
        assert_eq!(zeroed, cfg.layers.iter().sum::<usize>(), "one zeroed norm per block");
        // Each block then starts as (relu of) its shortcut: with only the stem, no block changes
        // a non-negative input of the right width.
        net.eval();
        let block = net.layer1.get(1).unwrap();
        let xs = Tensor::rand([1, 64 * cfg.block.expansion(), 8, 8], (Kind::Float, Device::Cpu));
        let y = block.try_forward_t(&xs, false).unwrap();
        common::assert_close("identity block", &y, &xs, 0.0, 0.0);
    }
}

#[test]
fn invalid_options_are_refused_as_torchvision_refuses_them() {
    let _s = common::serial();
    let vs = VarStore::new(Device::Cpu);
    let cases = [
        ResNetConfig::resnet18().groups(32),
        ResNetConfig::resnet34().width_per_group(128),
        ResNetConfig::resnet18().replace_stride_with_dilation([false, false, true]),
        ResNetConfig::resnet50().groups(0),
        ResNetConfig::new(BlockKind::Bottleneck, [3, 0, 6, 3]),
        ResNetConfig::resnet50().num_classes(-1),
    ];
    for cfg in cases {
        match ResNet::new(&vs.root(), &cfg) {
            Err(Error::InvalidArgument(msg)) => assert!(msg.contains("ResNet"), "{msg}"),
            other => panic!("{cfg:?}: expected InvalidArgument, got {other:?}"),
        }
    }
    let err = ResNet::new(&vs.root(), &ResNetConfig::resnet18().groups(2)).unwrap_err().to_string();
    assert!(err.contains("BasicBlock only supports groups=1 and base_width=64"), "{err}");
    let err = ResNet::new(&vs.root(), &ResNetConfig::resnet18().replace_stride_with_dilation([true, false, false]));
    assert!(err.unwrap_err().to_string().contains("Dilation > 1 not supported in BasicBlock"));
}

#[test]
fn bad_input_names_the_layer() {
    let _s = common::serial();
    let (_vs, net) = build(&ResNetConfig::resnet18());
    let err = net.try_forward_t(&Tensor::zeros([1, 4, 32, 32], (Kind::Float, Device::Cpu)), false).unwrap_err();
    assert!(matches!(&err, Error::InputShape { path, .. } if path == "conv1"), "{err}");
}

#[test]
fn registry_lists_unique_names_and_builds_by_name() {
    let _s = common::serial();
    let names = registry::model_names();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "names are unique");
    for info in list_models() {
        assert!(info.default_input[0] > 0 && info.default_input[1] > 0);
        assert_eq!(registry::model_info(info.name).unwrap().name, info.name);
    }
    for n in ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet101_2"] {
        assert!(names.contains(&n), "{n} registered");
    }
    assert_eq!(registry::model_info("resnet50").unwrap().default_input, [224, 224]);

    let vs = VarStore::new(Device::Cpu);
    let err = create_model("resnet51", &vs.root(), &ModelOptions::default()).expect_err("unknown model");
    match &err {
        Error::Unknown { what, name, hint } => {
            assert_eq!((*what, name.as_str()), ("model", "resnet51"));
            for n in &names {
                assert!(hint.contains(n), "the error lists {n}: {hint}");
            }
        }
        other => panic!("expected Error::Unknown, got {other:?}"),
    }

    let opts = ModelOptions::default().num_classes(10).set("replace_stride_with_dilation", "false,false,true");
    let m = create_model("resnet50", &(vs.root() / "net"), &opts).unwrap();
    assert_eq!(m.num_classes(), 10);
    assert_eq!(m.get_submodule("fc").unwrap().parameter("weight").unwrap().size(), [10, 2048]);
    assert_eq!(m.feature_info().last().unwrap().reduction, 16);
    m.eval();
    let xs = Tensor::randn([1, 3, 64, 64], (Kind::Float, Device::Cpu));
    let f = m.forward_features(&xs, false).unwrap();
    assert_eq!(f.size(), [1, 2048, 4, 4]);
    let y = m.forward_head(&f, false).unwrap();
    common::assert_close("registry model: head(features) = forward", &y, &m.try_forward(&xs).unwrap(), 0.0, 0.0);
    assert!(create_model(
        "resnet18",
        &(vs.root() / "bad"),
        &ModelOptions::default().set("replace_stride_with_dilation", "true,true,true")
    )
    .is_err());
}
