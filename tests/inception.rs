//! GoogLeNet and Inception-v3 built from published weights or from a file, against torchvision's
//! builders (fixtures of scripts/fixtures_inception.py): by weights name, torchvision's builder
//! (`transform_input` on; GoogLeNet without its auxiliary heads, whose keys in the file are
//! dropped); from a file, the plain constructor; `--option` overrides either. Keys in order and
//! eval logits equal torchvision's, through the library and through `tchvision run`; the
//! auxiliary heads in training mode; Inception's 75×75 minimum; the weights tables.
mod common;

use std::collections::HashMap;
use std::process::Command;

use tch::{nn::VarStore, Device, Tensor};
use tchvision::checkpoint::{self, LoadOptions, LoadReport, ReadOptions};
use tchvision::models::api::{Model, Options};
use tchvision::models::googlenet::{GoogLeNet, GoogLeNetConfig};
use tchvision::nn::ModuleExt;
use tchvision::registry::{create_model, create_model_for_weights, lookup_weights};
use tchvision::Error;

fn file(model: &str) -> std::path::PathBuf {
    common::fixture(match model {
        "googlenet" => "inception/googlenet-1378be20.pth",
        _ => "inception/inception_v3_google-0cc3c7bd.pth",
    })
}

fn expected() -> HashMap<String, Tensor> {
    common::tensors("inception/expected.safetensors")
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect()
}

/// Builds `arch` (from the published weights when `named`) with `o`, loads the fixture file as
/// the CLI loads it (with the published entry's rules), checks the keys against torchvision's
/// `variant` and returns the model and the load report.
fn build_and_load(arch: &str, named: bool, o: Options, variant: &str) -> (VarStore, Box<dyn Model>, LoadReport) {
    let w = lookup_weights(arch, "imagenet1k_v1").unwrap();
    let vs = VarStore::new(Device::Cpu);
    let model = if named {
        create_model_for_weights(arch, &vs.root(), &o, w).unwrap()
    } else {
        create_model(arch, &vs.root(), &o).unwrap()
    };
    let ours: Vec<String> = model.state_dict().into_iter().map(|(k, _)| k).collect();
    if !variant.is_empty() {
        assert_eq!(ours, keys(&common::json("inception/structure.json")[variant]), "{variant}: keys");
    }
    let opts = w.load_options(LoadOptions::strict(), model.as_ref()).unwrap();
    let report = checkpoint::load_file(model.as_ref(), &file(arch), &ReadOptions::default(), &opts).unwrap();
    model.eval();
    (vs, model, report)
}

fn logits(arch: &str, model: &dyn Model) -> Tensor {
    let x = &expected()[&format!("{arch}.input")];
    tch::no_grad(|| model.try_forward_t(x, false)).unwrap()
}

#[test]
fn googlenet_from_named_weights_follows_torchvisions_builder() {
    let _s = common::serial();
    let e = expected();
    let (_vs, m, report) = build_and_load("googlenet", true, Options::default(), "googlenet.named");
    // The heads are dropped: the model torchvision's builder returns, with its num_params.
    assert_eq!(report.dropped.len(), 2 * 10, "aux1/aux2 keys dropped: {:?}", report.dropped);
    assert!(report.dropped.iter().all(|k| k.starts_with("aux")));
    assert_eq!(m.num_parameters(), lookup_weights("googlenet", "default").unwrap().num_params);
    common::assert_close("named", &logits("googlenet", m.as_ref()), &e["googlenet.named"], 1e-4, 1e-5);
    // The user's options win over the weights'.
    let o = Options::default().set("transform_input", false);
    let (_vs, m, _) = build_and_load("googlenet", true, o, "googlenet.named.no_transform");
    let y = logits("googlenet", m.as_ref());
    common::assert_close("named, no transform", &y, &e["googlenet.named.no_transform"], 1e-4, 1e-5);
    let (_vs, m, report) =
        build_and_load("googlenet", true, Options::default().set("aux_logits", true), "googlenet.named_aux");
    assert!(report.dropped.is_empty(), "{report}");
    common::assert_close("named with aux", &logits("googlenet", m.as_ref()), &e["googlenet.named"], 1e-4, 1e-5);
}

#[test]
fn googlenet_auxiliary_heads_in_training_mode() {
    let _s = common::serial();
    let e = expected();
    let cfg = GoogLeNetConfig { transform_input: true, init_weights: false, ..Default::default() };
    let vs = VarStore::new(Device::Cpu);
    let net = GoogLeNet::new(&vs.root(), &cfg).unwrap();
    checkpoint::load_file(&net, &file("googlenet"), &ReadOptions::default(), &LoadOptions::strict()).unwrap();
    net.train();
    tch::manual_seed(11);
    let o = tch::no_grad(|| net.forward_outputs(&e["googlenet.input"], true)).unwrap();
    common::assert_close("train logits", &o.logits, &e["googlenet.named_aux.train.logits"], 1e-4, 1e-5);
    common::assert_close("aux2", &o.aux_logits2.unwrap(), &e["googlenet.named_aux.train.aux2"], 1e-4, 1e-5);
    common::assert_close("aux1", &o.aux_logits1.unwrap(), &e["googlenet.named_aux.train.aux1"], 1e-4, 1e-5);
    // In eval mode: the logits only.
    net.eval();
    let o = tch::no_grad(|| net.forward_outputs(&e["googlenet.input"], true)).unwrap();
    assert!(o.aux_logits1.is_none() && o.aux_logits2.is_none());
}

#[test]
fn from_a_file_the_plain_constructor() {
    let _s = common::serial();
    let e = expected();
    for arch in ["googlenet", "inception_v3"] {
        let (_vs, m, report) = build_and_load(arch, false, Options::default(), &format!("{arch}.plain"));
        assert!(report.dropped.is_empty() && report.renamed.is_empty(), "{report}");
        common::assert_close(arch, &logits(arch, m.as_ref()), &e[&format!("{arch}.plain")], 1e-4, 1e-5);
        // --option transform_input=true gives what the named weights give.
        let (_vs, m, _) = build_and_load(arch, false, Options::default().set("transform_input", true), "");
        common::assert_close(arch, &logits(arch, m.as_ref()), &e[&format!("{arch}.named")], 1e-4, 1e-5);
    }
}

#[test]
fn inception_from_named_weights_keeps_its_auxiliary_head_unless_told() {
    let _s = common::serial();
    let e = expected();
    let (_vs, m, report) = build_and_load("inception_v3", true, Options::default(), "inception_v3.named");
    assert!(report.dropped.is_empty(), "{report}");
    common::assert_close("named", &logits("inception_v3", m.as_ref()), &e["inception_v3.named"], 1e-4, 1e-5);
    let o = Options::default().set("transform_input", false);
    let (_vs, m, _) = build_and_load("inception_v3", true, o, "inception_v3.named.no_transform");
    let y = logits("inception_v3", m.as_ref());
    common::assert_close("named, no transform", &y, &e["inception_v3.named.no_transform"], 1e-4, 1e-5);
    // aux_logits=false (torchvision refuses it with weights; here the option wins): the head's
    // keys are dropped from the file, nothing else changes.
    let (_vs, m, report) = build_and_load("inception_v3", true, Options::default().set("aux_logits", false), "");
    let named = keys(&common::json("inception/structure.json")["inception_v3.named"]);
    let without: Vec<String> = named.iter().filter(|k| !k.starts_with("AuxLogits.")).cloned().collect();
    assert_eq!(m.state_dict().into_iter().map(|(k, _)| k).collect::<Vec<_>>(), without);
    assert_eq!(report.dropped.len(), named.len() - without.len(), "{report}");
    common::assert_close("named, no aux", &logits("inception_v3", m.as_ref()), &e["inception_v3.named"], 1e-4, 1e-5);
}

#[test]
fn inception_needs_75_by_75() {
    let _s = common::serial();
    assert_eq!(common::json("inception/structure.json")["inception_v3.74x79_fails"], true, "torchvision fails too");
    let vs = VarStore::new(Device::Cpu);
    let m = create_model("inception_v3", &vs.root(), &Options::default().set("init_weights", false)).unwrap();
    m.eval();
    let x = Tensor::zeros([1, 3, 74, 79], (tch::Kind::Float, Device::Cpu));
    match tch::no_grad(|| m.try_forward_t(&x, false)) {
        Err(Error::InputShape { expected, actual, .. }) => {
            assert!(expected.contains("75"), "{expected}");
            assert_eq!(actual, [1, 3, 74, 79]);
        }
        other => panic!("expected an input-shape error, got {other:?}"),
    }
    // Training with the auxiliary head needs 299×299: a clear error below.
    m.train();
    let x = Tensor::zeros([2, 3, 298, 299], (tch::Kind::Float, Device::Cpu));
    let err = tch::no_grad(|| m.try_forward(&x)).unwrap_err().to_string();
    assert!(err.contains("AuxLogits") && err.contains("299"), "{err}");
}

fn tv(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tchvision")).args(args).output().unwrap();
    assert!(out.status.success(), "tchvision {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn cli_run_builds_the_plain_constructor_from_a_file_and_options_override() {
    let e = expected();
    let dir = tempfile::tempdir().unwrap();
    for arch in ["googlenet", "inception_v3"] {
        let input = dir.path().join(format!("{arch}.safetensors"));
        Tensor::write_safetensors(&[("input", &e[&format!("{arch}.input")])], &input).unwrap();
        let f = file(arch).display().to_string();
        for (opt, want) in [("transform_input=false", "plain"), ("transform_input=true", "named")] {
            let out = dir.path().join("y.safetensors");
            let (i, o) = (input.display().to_string(), out.display().to_string());
            tv(&["run", arch, "--weights", &f, "--option", opt, "--input", &i, "--output", &o, "--device", "cpu"]);
            let got: HashMap<String, Tensor> = Tensor::read_safetensors(&out).unwrap().into_iter().collect();
            common::assert_close(&format!("{arch} {opt}"), &got["output"], &e[&format!("{arch}.{want}")], 1e-4, 1e-5);
        }
    }
}

#[test]
fn cli_predict_uses_inceptions_preprocessing() {
    let want = common::json("inception/predict_expected.json");
    let img = common::root().join("examples/images/chelsea.png").display().to_string();
    let f = file("inception_v3").display().to_string();
    let out = tv(&["predict", "inception_v3", "--weights", &f, &img, "--topk", "5", "--json", "--device", "cpu"]);
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    let top = got[0]["top"].as_array().unwrap();
    for (i, c) in top.iter().enumerate() {
        assert_eq!(c["index"], want["top5_index"][i], "rank {i}");
        let (a, b) = (c["probability"].as_f64().unwrap(), want["top5_prob"][i].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-4 * b.abs() + 1e-6, "rank {i}: {a} vs {b}");
    }
}

#[test]
fn weights_tables_equal_torchvisions() {
    common::assert_weights_tables_match("inception/weights.json");
    let w = lookup_weights("inception_v3", "default").unwrap();
    assert_eq!(w.overrides, &[("transform_input", "true"), ("init_weights", "false")]);
}
