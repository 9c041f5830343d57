//! The generic zoo tests: every classification model of the registry against torchvision
//! itself (scripts/fixtures_zoo.py, one case per model listed in scripts/zoo/<family>.py):
//! state-dict keys in order, shapes and dtypes; named_modules with class names; the parameter
//! count of the registry table; logits and every `feature_info` stage on seeded weights (every
//! constant tensor randomised) at an odd non-square size, within 1e-4 relative error (max abs
//! difference over max abs value); torchvision's initialisation after the same seed; and, for
//! one model per family, a train-mode forward with the buffers it updates.
//!
//! A family adds nothing here: it lists its models in scripts/zoo/<family>.py.
mod common;

use std::collections::BTreeSet;
use tch::{nn::VarStore, Device, Kind, Tensor};
use tchvision::models::api::{Model, Options, Task};
use tchvision::models::features::NodeOutputs;
use tchvision::nn::ModuleExt;
use tchvision::registry::{create_model, list_models};

fn manifest() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(common::zoo_fixtures().join("manifest.json")).unwrap()).unwrap()
}

fn fixture(name: &str) -> std::collections::HashMap<String, Tensor> {
    Tensor::read_safetensors(common::zoo_fixtures().join(format!("{name}.safetensors"))).unwrap().into_iter().collect()
}

/// The registry's classification models.
fn classifiers() -> Vec<&'static str> {
    list_models().into_iter().filter(|m| m.task == Task::Classification).map(|m| m.name).collect()
}

fn options(case: &serde_json::Value) -> Options {
    let mut o = Options::default();
    for (k, v) in case["kwargs"].as_object().unwrap() {
        o = match k.as_str() {
            "num_classes" => o.num_classes(v.as_i64().unwrap()),
            _ => o.set(k, v.to_string().trim_matches('"')),
        };
    }
    o
}

/// max |a − b| / max |b|, failing on NaN/Inf in ours where torch's is finite, and on a shape
/// or dtype difference.
fn rel_err(what: &str, ours: &Tensor, theirs: &Tensor) -> f64 {
    assert_eq!(ours.size(), theirs.size(), "{what}: shapes");
    assert_eq!(ours.kind(), theirs.kind(), "{what}: dtypes");
    let a = ours.to_kind(Kind::Double);
    let b = theirs.to_kind(Kind::Double);
    assert!(b.isfinite().all().int64_value(&[]) == 1, "{what}: torch's output is not finite");
    assert!(a.isfinite().all().int64_value(&[]) == 1, "{what}: ours has NaN or Inf");
    let scale = b.abs().max().double_value(&[]).max(1e-30);
    (a - b).abs().max().double_value(&[]) / scale
}

#[test]
fn every_registry_classifier_has_a_zoo_case_and_back() {
    let m = manifest();
    let cases: BTreeSet<String> = m["cases"].as_object().unwrap().keys().cloned().collect();
    let ours: BTreeSet<String> = classifiers().into_iter().map(String::from).collect();
    if std::env::var("TCHVISION_ZOO").is_ok() {
        return common::skip("TCHVISION_ZOO limits the zoo cases: the registry is not compared");
    }
    assert_eq!(ours, cases, "registry classifiers vs scripts/zoo/*.py cases");
    let tv: BTreeSet<String> =
        m["torchvision"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    for n in &ours {
        assert!(tv.contains(n), "{n} is not a torchvision classification model");
    }
}

/// Runs `f` on every case, reporting every failure at the end (one model's failure does not
/// hide another's).
fn for_each_case(what: &str, select: impl Fn(&serde_json::Value) -> bool, f: impl Fn(&str, &serde_json::Value)) {
    let m = manifest();
    let cases = m["cases"].as_object().unwrap();
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, case) in cases {
        if !select(case) {
            continue;
        }
        ran += 1;
        let _s = common::serial();
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(name, case))) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{name}: {msg}"));
        }
    }
    assert!(ran > 0, "{what}: no case ran");
    assert!(failures.is_empty(), "{what}: {} of {ran} failed:\n{}", failures.len(), failures.join("\n"));
}

fn build(name: &str, case: &serde_json::Value) -> (VarStore, Box<dyn Model>) {
    let vs = VarStore::new(Device::Cpu);
    let model = create_model(name, &vs.root(), &options(case)).unwrap();
    (vs, model)
}

#[test]
fn structure_and_parity_with_torchvision() {
    let seed_base = manifest()["seed_base"].as_i64().unwrap();
    let input_seed = manifest()["input_seed"].as_i64().unwrap();
    for_each_case(
        "structure and parity",
        |_| true,
        |name, case| {
            let (_vs, model) = build(name, case);
            // Keys in order, shapes, dtypes.
            let ours: Vec<(String, Vec<i64>, String)> =
                model.state_dict().into_iter().map(|(k, t)| (k, t.size(), format!("{:?}", t.kind()))).collect();
            let theirs = case["state"].as_array().unwrap();
            assert_eq!(ours.len(), theirs.len(), "state-dict length");
            for ((k, shape, kind), t) in ours.iter().zip(theirs) {
                assert_eq!(k, t[0].as_str().unwrap(), "key order");
                let tshape: Vec<i64> = t[1].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
                assert_eq!(shape, &tshape, "{k}: shape");
                let tkind = match t[2].as_str().unwrap() {
                    "float32" => "Float",
                    "int64" => "Int64",
                    other => other,
                };
                assert_eq!(kind, tkind, "{k}: dtype");
            }
            // named_modules: paths and class names.
            let mods: Vec<(String, String)> =
                model.named_modules().into_iter().map(|(p, m)| (p, m.class_name().to_string())).collect();
            let tmods: Vec<(String, String)> = case["modules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| (v[0].as_str().unwrap().to_string(), v[1].as_str().unwrap().to_string()))
                .collect();
            assert_eq!(mods, tmods, "named_modules (path, class)");
            // The registry's parameter count (torchvision's num_params) is the built model's.
            let info = tchvision::registry::model_info(name).unwrap();
            if case["kwargs"].as_object().unwrap().is_empty() {
                assert_eq!(info.num_params, model.num_parameters(), "registry num_params");
            }
            assert_eq!(model.num_parameters(), case["num_params"].as_i64().unwrap(), "num_params");
            // feature_info names the fixture's stages.
            let stages: Vec<String> =
                case["stages"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
            let info_names: Vec<String> = model.feature_info().into_iter().map(|f| f.module).collect();
            assert_eq!(info_names, stages, "feature_info stages");

            // Logits and stages on the seeded weights.
            let sum = common::seed_state(model.as_ref(), seed_base);
            let want = case["seeded_sum"].as_f64().unwrap();
            assert!((sum - want).abs() <= 1e-6 * want.abs().max(1.0), "seeded weights: sum {sum} vs torch {want}");
            let fx = fixture(name);
            let (h, w) = (case["input"][0].as_i64().unwrap(), case["input"][1].as_i64().unwrap());
            tch::manual_seed(input_seed);
            let x = Tensor::randn([case["batch"].as_i64().unwrap(), 3, h, w], (Kind::Float, Device::Cpu));
            model.eval();
            let (logits, maps) = tch::no_grad(|| model.forward_nodes(&x, false, &stages)).unwrap();
            let e = rel_err("logits", &logits, &fx["logits"]);
            assert!(e <= 1e-4, "logits: relative error {e:e}");
            for ((s, ours), info) in maps.iter().zip(model.feature_info()) {
                let e = rel_err(s, ours, &fx[&format!("stage.{s}")]);
                assert!(e <= 1e-4, "stage {s}: relative error {e:e}");
                assert_eq!(ours.size()[1], info.num_chs, "stage {s}: feature_info channels");
            }
        },
    );
}

#[test]
fn initialisation_equals_torchvisions_after_the_same_seed() {
    for_each_case(
        "init",
        |c| c["init"].as_bool().unwrap(),
        |name, case| {
            tch::manual_seed(0);
            let (_vs, model) = build(name, case);
            let stats = case["init_stats"].as_object().unwrap();
            let sd = model.state_dict();
            assert_eq!(sd.len(), stats.len());
            for (k, t) in sd {
                let s = &stats[&k];
                let t = t.to_kind(Kind::Double).flatten(0, -1);
                let (sum, abs) = (t.sum(Kind::Double).double_value(&[]), t.abs().sum(Kind::Double).double_value(&[]));
                let (ts, ta) = (s[0].as_f64().unwrap(), s[1].as_f64().unwrap());
                let tol = 1e-6 * ta.max(1.0);
                assert!(
                    (sum - ts).abs() <= tol && (abs - ta).abs() <= tol,
                    "{k}: sum {sum} abs {abs} vs torch {ts} {ta}"
                );
                let first: Vec<f64> = Vec::<f64>::try_from(t.narrow(0, 0, t.size()[0].min(4))).unwrap();
                for (a, b) in first.iter().zip(s[2].as_array().unwrap()) {
                    let b = b.as_f64().unwrap();
                    assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-3), "{k}: first values {first:?} vs torch {}", s[2]);
                }
            }
        },
    );
}

#[test]
fn train_mode_forward_equals_torchvisions() {
    let seed_base = manifest()["seed_base"].as_i64().unwrap();
    let input_seed = manifest()["input_seed"].as_i64().unwrap();
    let train_seed = manifest()["train_seed"].as_i64().unwrap();
    for_each_case(
        "train-mode forward",
        |c| c["train"].as_bool().unwrap(),
        |name, case| {
            let (_vs, model) = build(name, case);
            common::seed_state(model.as_ref(), seed_base);
            let fx = fixture(name);
            let (h, w) = (case["input"][0].as_i64().unwrap(), case["input"][1].as_i64().unwrap());
            tch::manual_seed(input_seed);
            let x = Tensor::randn([case["batch"].as_i64().unwrap(), 3, h, w], (Kind::Float, Device::Cpu));
            model.train();
            tch::manual_seed(train_seed);
            let y = model.try_forward(&x).unwrap();
            let e = rel_err("train logits", &y.detach(), &fx["train.logits"]);
            assert!(e <= 1e-4, "train logits: relative error {e:e}");
            let mut n = 0;
            for (k, t) in model.named_buffers() {
                let theirs = &fx[&format!("train.state.{k}")];
                if t.is_floating_point() {
                    let e = rel_err(&k, &t, theirs);
                    assert!(e <= 1e-4, "{k} after the step: relative error {e:e}");
                } else {
                    assert!(t.equal(theirs), "{k} after the step");
                }
                n += 1;
            }
            let want = fx.keys().filter(|k| k.starts_with("train.state.")).count();
            assert_eq!(n, want, "buffers compared");
        },
    );
}
