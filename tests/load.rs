//! Loading state dicts into modules (`tchvision::checkpoint::load`) and the safetensors reader
//! and writer, against files torch and Python's safetensors wrote (scripts/fixtures_load.py).

mod common;

use std::collections::HashMap;

use common::{assert_close, fixture, json, python, tensors};
use tch::{nn::Path, nn::VarStore, Device, Kind, Tensor};
use tchvision::checkpoint::{self, load_file, load_state_dict, safetensors, LoadOptions, LoadReport, ReadOptions};
use tchvision::nn::*;
use tchvision::{Error, Result};

/// The fixtures' `SmallNet`: conv1, bn1, layer1 = Sequential(Conv2d, BatchNorm2d, ReLU), fc.
#[derive(Debug)]
struct SmallNet {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    layer1: Sequential,
    fc: Linear,
}

impl SmallNet {
    fn new(p: &Path, num_classes: i64) -> Result<Self> {
        Ok(SmallNet {
            conv1: Conv2d::new(&(p / "conv1"), 3, 8, 3, Conv2dConfig::default().padding(1).bias(false))?,
            bn1: BatchNorm2d::new(&(p / "bn1"), 8, BatchNormConfig::default())?,
            layer1: Sequential::builder(p / "layer1")
                .add(|p| Conv2d::new(p, 8, 16, 3, Conv2dConfig::default().padding(1)))?
                .add(|p| BatchNorm2d::new(p, 16, BatchNormConfig::default()))?
                .add(ReLU::new)?
                .build(),
            fc: Linear::new(&(p / "fc"), 16, num_classes)?,
        })
    }
}

impl Module for SmallNet {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Custom("SmallNet")
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let x = self.bn1.try_forward_t(&self.conv1.try_forward_t(xs, train)?, train)?.relu();
        let x = self.layer1.try_forward_t(&x, train)?;
        self.fc.try_forward_t(&x.adaptive_avg_pool2d([1, 1]).flatten(1, -1), train)
    }
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("conv1".into(), &self.conv1 as &dyn Module),
            ("bn1".into(), &self.bn1),
            ("layer1".into(), &self.layer1),
            ("fc".into(), &self.fc),
        ]
    }
}

/// The tutorial's `YourNet`: a backbone held as `self.resnet50`, plus its own head.
#[derive(Debug)]
struct YourNet {
    resnet50: SmallNet,
    conn_layer1: Sequential,
}

impl YourNet {
    fn new(p: &Path) -> Result<Self> {
        Ok(YourNet {
            resnet50: SmallNet::new(&(p / "resnet50"), 10)?,
            conn_layer1: Sequential::builder(p / "conn_layer1").add(|p| Linear::new(p, 10, 4))?.build(),
        })
    }
}

impl Module for YourNet {
    fn kind(&self) -> ModuleKind {
        ModuleKind::Custom("YourNet")
    }
    fn try_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.conn_layer1.try_forward_t(&self.resnet50.try_forward_t(xs, train)?, train)
    }
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        vec![("resnet50".into(), &self.resnet50 as &dyn Module), ("conn_layer1".into(), &self.conn_layer1)]
    }
}

fn small(num_classes: i64) -> (VarStore, SmallNet) {
    let vs = VarStore::new(Device::Cpu);
    let net = SmallNet::new(&vs.root(), num_classes).unwrap();
    (vs, net)
}

fn cpu() -> ReadOptions {
    ReadOptions { device: Device::Cpu, state_dict_key: None, strip_module_prefix: false, mmap: false }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// torch's keys of the SmallNet state dict, from the fixture.
fn torch_keys() -> Vec<String> {
    json("load/small.json")["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect()
}

/// A deep copy of every state-dict tensor.
fn snapshot<M: Module + ?Sized>(m: &M) -> Vec<(String, Tensor)> {
    m.state_dict().into_iter().map(|(k, t)| (k, t.copy())).collect()
}

#[track_caller]
fn assert_unchanged<M: Module + ?Sized>(m: &M, before: &[(String, Tensor)]) {
    let now = m.state_dict();
    assert_eq!(now.len(), before.len());
    for ((k, a), (k2, b)) in now.iter().zip(before) {
        assert_eq!(k, k2);
        assert!(a.equal(b), "{k} changed although the load failed");
    }
}

/// Asserts that the model's tensor under each `model_key` equals the fixture's `file_key` value.
#[track_caller]
fn assert_loaded<M: Module + ?Sized>(m: &M, file: &HashMap<String, Tensor>, prefix: &str, keys: &[String]) {
    let sd: HashMap<String, Tensor> = m.state_dict().into_iter().collect();
    for k in keys {
        let file_key = k.strip_prefix(prefix).unwrap_or(k);
        let want = &file[file_key];
        let got = &sd[k];
        assert_eq!(got.kind(), want.kind(), "{k}: dtype");
        assert!(got.equal(want), "{k}: value differs from the file's {file_key}");
    }
}

#[test]
fn strict_load_of_torch_file_sets_every_tensor() {
    let file = tensors("load/small.safetensors");
    for name in ["load/small.pth", "load/small.safetensors", "load/small_legacy.pth"] {
        let (_vs, net) = small(1000);
        let report = load_file(&net, fixture(name), &cpu(), &LoadOptions::default()).unwrap();
        assert_eq!(report.loaded, torch_keys(), "{name}");
        assert!(report.is_complete() && report.dropped.is_empty() && report.renamed.is_empty(), "{name}");
        assert_loaded(&net, &file, "", &report.loaded);
        assert!(!report.to_string().contains("WARNING"), "{name}: {report}");
    }
}

#[test]
fn strict_failure_changes_nothing_and_names_the_keys() {
    let (_vs, net) = small(10);
    let before = snapshot(&net);
    let err = load_file(&net, fixture("load/small.pth"), &cpu(), &LoadOptions::default()).unwrap_err();
    let Error::StrictLoad(msg) = &err else { panic!("expected StrictLoad, got {err:?}") };
    assert!(msg.contains("fc.weight (model [10, 16], file [1000, 16])"), "{msg}");
    assert!(msg.contains("small.pth"), "{msg}");
    assert_unchanged(&net, &before);

    // Missing and unexpected keys fail a strict load too, and name the keys.
    let mut sd = checkpoint::read(&fixture("load/small.safetensors"), &cpu()).unwrap().tensors;
    sd.retain(|(k, _)| k != "bn1.running_var");
    sd.push(("extra.weight".into(), Tensor::zeros([2], (Kind::Float, Device::Cpu))));
    let (_vs, net) = small(1000);
    let before = snapshot(&net);
    let err = load_state_dict(&net, sd, &LoadOptions::strict()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("1 missing key(s): bn1.running_var"), "{msg}");
    assert!(msg.contains("1 unexpected key(s): extra.weight"), "{msg}");
    assert_unchanged(&net, &before);
}

#[test]
fn tutorial_recipe_drops_the_classifier() {
    // pretrained_dict.pop('fc.weight'); pop('fc.bias'); keep keys the model has; load.
    let file = tensors("load/small.safetensors");
    let (_vs, net) = small(10);
    let fc_before = (net.fc.weight.copy(), net.fc.bias.as_ref().unwrap().copy());
    let opts = LoadOptions::partial().drop_keys(r"^fc\.").unwrap();
    let report = load_file(&net, fixture("load/small.pth"), &cpu(), &opts).unwrap();
    let want: Vec<String> = torch_keys().into_iter().filter(|k| !k.starts_with("fc.")).collect();
    assert_eq!(report.loaded, want);
    assert_eq!(report.missing, strs(&["fc.weight", "fc.bias"]));
    assert_eq!(report.dropped, strs(&["fc.weight", "fc.bias"]));
    assert!(report.unexpected.is_empty() && report.mismatched.is_empty() && report.renamed.is_empty());
    assert_loaded(&net, &file, "", &report.loaded);
    assert!(net.fc.weight.equal(&fc_before.0) && net.fc.bias.as_ref().unwrap().equal(&fc_before.1));
}

#[test]
fn shape_mismatch_is_an_error_or_skipped_and_reported() {
    // A 1000-class file into a 10-class model, non-strict.
    let (_vs, net) = small(10);
    let before = snapshot(&net);
    let err = load_file(&net, fixture("load/small.pth"), &cpu(), &LoadOptions::partial()).unwrap_err();
    match &err {
        Error::ShapeMismatch { key, expected, actual } => {
            assert_eq!(
                (key.as_str(), expected.as_slice(), actual.as_slice()),
                ("fc.weight", &[10, 16][..], &[1000, 16][..])
            )
        }
        e => panic!("expected ShapeMismatch, got {e:?}"),
    }
    assert_unchanged(&net, &before);

    let file = tensors("load/small.safetensors");
    let opts = LoadOptions::partial().skip_mismatched(true);
    let report = load_file(&net, fixture("load/small.pth"), &cpu(), &opts).unwrap();
    let m: Vec<(&str, &[i64], &[i64])> =
        report.mismatched.iter().map(|m| (m.key.as_str(), &m.model_shape[..], &m.file_shape[..])).collect();
    assert_eq!(m, [("fc.weight", &[10, 16][..], &[1000, 16][..]), ("fc.bias", &[10][..], &[1000][..])]);
    assert!(report.missing.is_empty() && report.unexpected.is_empty());
    assert_eq!(report.loaded.len(), torch_keys().len() - 2);
    assert_loaded(&net, &file, "", &report.loaded);
    let shown = report.to_string();
    assert!(
        shown.contains("mismatched (skipped) (2)") && shown.contains("fc.weight (model [10, 16], file [1000, 16])"),
        "{shown}"
    );

    // Strict mode fails on mismatches even when they would be skipped.
    let (_vs, net) = small(10);
    let err = load_file(&net, fixture("load/small.pth"), &cpu(), &LoadOptions::strict().skip_mismatched(true));
    assert!(matches!(err, Err(Error::StrictLoad(_))));
}

#[test]
fn rename_and_strip_prefix_load_a_dataparallel_file() {
    let file = tensors("load/small.safetensors");
    let module_keys: Vec<String> = json("load/small_module.json")["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let rename = LoadOptions::strict().rename_keys(r"^module\.(.*)$", "$1").unwrap();
    let strip = LoadOptions::strict().strip_prefix("module.");
    for opts in [rename, strip] {
        let (_vs, net) = small(1000);
        let report = load_file(&net, fixture("load/small_module.pth"), &cpu(), &opts).unwrap();
        assert_eq!(report.loaded, torch_keys());
        let renamed: Vec<(String, String)> = report.renamed.iter().map(|r| (r.from.clone(), r.to.clone())).collect();
        let want: Vec<(String, String)> = module_keys.iter().cloned().zip(torch_keys()).collect();
        assert_eq!(renamed, want);
        assert_loaded(&net, &file, "", &report.loaded);
    }
    // Without any option a DataParallel file matches nothing: the report says so and says why.
    let (_vs, net) = small(1000);
    let err = load_file(&net, fixture("load/small_module.pth"), &cpu(), &LoadOptions::strict()).unwrap_err();
    assert!(err.to_string().contains("strip_prefix \"module.\""), "{err}");
    let report = load_file(&net, fixture("load/small_module.pth"), &cpu(), &LoadOptions::partial()).unwrap();
    assert!(report.loaded.is_empty());
    let hint = report.prefix_hint().unwrap();
    assert_eq!((hint.file_prefix.as_str(), hint.model_prefix.as_str()), ("module.", ""));
}

#[test]
fn transforms_apply_drop_rename_strip_add_in_order() {
    let opts = LoadOptions::partial()
        .drop_keys(r"^head\.")
        .unwrap()
        .rename_keys(r"^backbone\.", "body.")
        .unwrap()
        .rename_keys(r"^body\.(\w+)\.", "$1.")
        .unwrap()
        .strip_prefix("conv")
        .add_prefix("net.");
    assert_eq!(opts.map_key("head.weight"), None);
    // drop tests the key as stored in the file, before any rename turns it into "head.…".
    assert_eq!(opts.map_key("backbone.head.x").as_deref(), Some("net.head.x"));
    assert_eq!(opts.map_key("backbone.conv1.weight").as_deref(), Some("net.1.weight"));
    assert_eq!(opts.map_key("backbone.bn.weight").as_deref(), Some("net.bn.weight"));
    assert_eq!(opts.map_key("other").as_deref(), Some("net.other"));
}

#[test]
fn tutorial_prefix_trap_is_reported_and_add_prefix_fixes_it() {
    // The tutorial's YourNet holds the backbone as `self.resnet50`: its recipe loads nothing.
    let vs = VarStore::new(Device::Cpu);
    let net = YourNet::new(&vs.root()).unwrap();
    let before = snapshot(&net);
    let recipe = LoadOptions::partial().drop_keys(r"^fc\.").unwrap();
    let report = load_file(&net, fixture("load/small.pth"), &cpu(), &recipe).unwrap();
    assert!(report.loaded.is_empty());
    assert!(report.nothing_matched());
    assert_unchanged(&net, &before);
    let hint = report.prefix_hint().expect("a prefix hint");
    assert_eq!((hint.file_prefix.as_str(), hint.model_prefix.as_str()), ("", "resnet50."));
    assert_eq!(hint.matches, torch_keys().len() - 2);
    let shown = report.to_string();
    assert!(shown.contains("WARNING: NOTHING WAS LOADED"), "{shown}");
    assert!(shown.contains("add_prefix \"resnet50.\""), "{shown}");

    let file = tensors("load/small.safetensors");
    let fixed = recipe.add_prefix("resnet50.");
    let report = load_file(&net, fixture("load/small.pth"), &cpu(), &fixed).unwrap();
    let want: Vec<String> =
        torch_keys().into_iter().filter(|k| !k.starts_with("fc.")).map(|k| format!("resnet50.{k}")).collect();
    assert_eq!(report.loaded, want);
    assert_eq!(
        report.missing,
        strs(&["resnet50.fc.weight", "resnet50.fc.bias", "conn_layer1.0.weight", "conn_layer1.0.bias"])
    );
    assert!(report.unexpected.is_empty());
    assert_loaded(&net, &file, "resnet50.", &report.loaded);
    assert!(!report.to_string().contains("WARNING"), "{report}");
}

#[test]
fn lower_and_higher_precision_files_convert_as_torch_does() {
    for (name, want) in [
        ("load/small_f16.pth", "load/small_f16_as_f32.safetensors"),
        ("load/small_f64.pth", "load/small_f64_as_f32.safetensors"),
    ] {
        let want = tensors(want);
        let (_vs, net) = small(1000);
        let report = load_file(&net, fixture(name), &cpu(), &LoadOptions::default()).unwrap();
        assert_eq!(report.loaded, torch_keys());
        for (k, t) in net.state_dict() {
            assert_eq!(t.kind(), want[&k].kind(), "{name} {k}");
            assert_close(&format!("{name} {k}"), &t, &want[&k], 0.0, 0.0);
        }
    }
}

#[test]
fn failed_conversion_changes_nothing() {
    // Every value valid except one complex tensor: nothing may be written.
    let mut sd = checkpoint::read(&fixture("load/small.safetensors"), &cpu()).unwrap().tensors;
    let i = sd.iter().position(|(k, _)| k == "fc.bias").unwrap();
    let complex = Tensor::complex(&sd[i].1, &sd[i].1);
    sd[i].1 = complex;
    let (_vs, net) = small(1000);
    let before = snapshot(&net);
    let err = load_state_dict(&net, sd, &LoadOptions::partial()).unwrap_err();
    assert!(err.to_string().contains("fc.bias") && err.to_string().contains("complex64"), "{err}");
    assert_unchanged(&net, &before);
}

#[test]
fn nested_checkpoint_loads_its_state_dict() {
    let file = tensors("load/small.safetensors");
    let (_vs, net) = small(1000);
    let report = load_file(&net, fixture("load/small_nested.pth"), &cpu(), &LoadOptions::default()).unwrap();
    assert_eq!(report.loaded, torch_keys());
    assert_loaded(&net, &file, "", &report.loaded);
}

#[test]
fn report_serialises_with_exactly_its_fields() {
    let (_vs, net) = small(10);
    let opts = LoadOptions::partial().skip_mismatched(true).rename_keys(r"^bn1\.", "bn_one.").unwrap();
    let report: LoadReport = load_file(&net, fixture("load/small.pth"), &cpu(), &opts).unwrap();
    let v = serde_json::to_value(&report).unwrap();
    let mut fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(fields, ["dropped", "loaded", "mismatched", "missing", "renamed", "unexpected"]);
    let m = v["mismatched"][0].as_object().unwrap();
    let mut mf: Vec<&str> = m.keys().map(String::as_str).collect();
    mf.sort();
    assert_eq!(mf, ["file_shape", "key", "model_shape"]);
    assert_eq!(v["mismatched"][0]["file_shape"], serde_json::json!([1000, 16]));
    assert_eq!(v["renamed"][0], serde_json::json!({"from": "bn1.weight", "to": "bn_one.weight"}));
    assert!(v["unexpected"].as_array().unwrap().contains(&serde_json::json!("bn_one.weight")));
    assert!(v["missing"].as_array().unwrap().contains(&serde_json::json!("bn1.weight")));
}

#[test]
fn loads_onto_cuda_models() {
    if !tch::Cuda::is_available() {
        common::skip("CUDA is not available on this machine");
        return;
    }
    let file = tensors("load/small_f16_as_f32.safetensors");
    let vs = VarStore::new(Device::Cuda(0));
    let net = SmallNet::new(&vs.root(), 1000).unwrap();
    let report = load_file(&net, fixture("load/small_f16.pth"), &cpu(), &LoadOptions::default()).unwrap();
    assert_eq!(report.loaded, torch_keys());
    for (k, t) in net.state_dict() {
        assert_eq!(t.device(), Device::Cuda(0), "{k}");
        assert_close(&k, &t.to_device(Device::Cpu), &file[&k], 0.0, 0.0);
    }
    // And read straight onto the GPU.
    let opts = ReadOptions { device: Device::Cuda(0), ..cpu() };
    let ck = checkpoint::read(&fixture("load/small.safetensors"), &opts).unwrap();
    assert!(ck.tensors.iter().all(|(_, t)| t.device() == Device::Cuda(0)));
}

// ---- safetensors reader and writer -------------------------------------------------------

#[test]
fn safetensors_reads_every_dtype_as_python_wrote_it() {
    let meta = json("load/dtypes.json");
    let ck = safetensors::read(fixture("load/dtypes.safetensors"), &cpu()).unwrap();
    assert_eq!(ck.format.to_string(), "safetensors");
    let got: HashMap<String, Tensor> = ck.tensors.into_iter().collect();
    let dtypes: HashMap<String, String> = meta["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["key"].as_str().unwrap().to_string(), t["dtype"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(got.len(), dtypes.len());
    common::assert_covered("values compared", meta["values"].as_object().unwrap().keys(), got.keys());
    for (key, v) in meta["values"].as_object().unwrap() {
        let t = &got[key];
        assert_eq!(checkpoint::torch_dtype_name(t.kind()), dtypes[key], "{key}");
        let shape: Vec<i64> = v["shape"].as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).collect();
        assert_eq!(t.size(), shape, "{key}");
        let real: Vec<f64> = v["real"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let re = Tensor::from_slice(&real).reshape(&shape);
        // Python's values as float64: every element, converted exactly, is the same number.
        let f64_of = |x: Tensor| x.to_kind(Kind::Double);
        if t.is_complex() {
            let imag: Vec<f64> = v["imag"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            assert_close(key, &f64_of(t.real()), &re, 0.0, 0.0);
            assert_close(key, &f64_of(t.imag()), &Tensor::from_slice(&imag).reshape(&shape), 0.0, 0.0);
        } else {
            assert_close(key, &f64_of(t.shallow_clone()), &re, 0.0, 0.0);
        }
    }
}

#[test]
fn safetensors_save_is_read_by_python_and_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = tensors("load/small.safetensors");
    // PyTorch's order (not the sorted order Python's writer uses), plus awkward tensors.
    let mut sd: Vec<(String, Tensor)> =
        torch_keys().into_iter().map(|k| (k.clone(), file[&k].shallow_clone())).collect();
    sd.push(("transposed".into(), file["fc.weight"].tr())); // non-contiguous
    sd.push(("sliced".into(), file["fc.weight"].narrow(0, 3, 5).narrow(1, 2, 4)));
    sd.push(("half".into(), file["fc.bias"].to_kind(Kind::Half)));
    sd.push(("bf16".into(), file["fc.bias"].to_kind(Kind::BFloat16)));
    sd.push(("flags".into(), file["fc.bias"].gt(0.0)));
    sd.push(("z".into(), Tensor::complex(&file["fc.bias"], &file["fc.bias"].neg())));
    sd.push(("empty".into(), Tensor::zeros([0, 3], (Kind::Float, Device::Cpu))));
    let out = dir.path().join("ours.safetensors");
    safetensors::save_with_metadata(&out, &sd, &[("format".into(), "pt".into())]).unwrap();
    let back = safetensors::read(&out, &cpu()).unwrap();
    let keys: Vec<&str> = back.tensors.iter().map(|(k, _)| k.as_str()).collect();
    let want: Vec<&str> = sd.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, want, "read gives back the order save was given");
    assert_eq!(back.other, [("__metadata__.format".to_string(), "str".to_string())]);

    let script = r#"
import sys, torch
from safetensors import safe_open
from safetensors.torch import load_file
ours = load_file(sys.argv[1]); ref = load_file(sys.argv[2])
with safe_open(sys.argv[1], "pt") as f:
    assert f.metadata() == {"format": "pt"}, f.metadata()
for k, v in ref.items():
    assert torch.equal(ours[k], v) and ours[k].dtype == v.dtype, k
w, b = ref["fc.weight"], ref["fc.bias"]
expect = {"transposed": w.t(), "sliced": w[3:8, 2:6], "half": b.half(), "bf16": b.bfloat16(),
          "flags": b > 0, "z": torch.complex(b, -b), "empty": torch.zeros(0, 3)}
for k, v in expect.items():
    assert ours[k].dtype == v.dtype and ours[k].shape == v.shape and torch.equal(ours[k], v), k
assert len(ours) == len(ref) + len(expect)
print("ok")
"#;
    let o = std::process::Command::new(python())
        .args(["-c", script])
        .arg(&out)
        .arg(fixture("load/small.safetensors"))
        .output()
        .unwrap();
    assert!(o.status.success(), "python: {}", String::from_utf8_lossy(&o.stderr));
    // No temporary file left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, [std::ffi::OsString::from("ours.safetensors")]);
}

#[test]
fn safetensors_state_dict_key_and_module_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let file = tensors("load/small.safetensors");
    let sd: Vec<(String, Tensor)> =
        torch_keys().into_iter().map(|k| (format!("model.module.{k}"), file[&k].shallow_clone())).collect();
    let out = dir.path().join("nested.safetensors");
    safetensors::save(&out, &sd).unwrap();
    let opts = ReadOptions { state_dict_key: Some("model".into()), strip_module_prefix: true, ..cpu() };
    let ck = safetensors::read(&out, &opts).unwrap();
    assert_eq!(ck.state_dict_key.as_deref(), Some("model"));
    assert_eq!(ck.tensors.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), torch_keys());
    let opts = ReadOptions { state_dict_key: Some("nope".into()), ..opts };
    let err = safetensors::read(&out, &opts).unwrap_err().to_string();
    assert!(err.contains("`nope`"), "{err}");
}

#[test]
fn safetensors_save_refuses_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tensor::zeros([2], (Kind::Float, Device::Cpu));
    let out = dir.path().join("x.safetensors");
    let dup = vec![("a".to_string(), t.shallow_clone()), ("a".to_string(), t.shallow_clone())];
    assert!(matches!(safetensors::save(&out, &dup), Err(Error::DuplicateKey(k)) if k == "a"));
    assert!(safetensors::save(&out, &[("__metadata__".to_string(), t)]).is_err());
    assert!(!out.exists());
}

#[test]
fn safetensors_read_mapped_equals_read_and_never_writes_the_file() {
    // A file of every dtype from Python, and one of ours with a misaligned float32 (after an
    // odd-length float16), which read_mapped must copy rather than view.
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("odd.safetensors");
    let h = Tensor::from_slice(&[1.0f32, 2.0, 3.0]).to_kind(Kind::Half);
    let f = Tensor::from_slice(&[0.5f32, -7.25]);
    safetensors::save(&odd, &[("h".into(), h), ("f".into(), f)]).unwrap();
    for file in [fixture("load/dtypes.safetensors"), fixture("load/small.safetensors"), odd.clone()] {
        let eager = safetensors::read(&file, &cpu()).unwrap();
        let mapped = safetensors::read_mapped(&file, &cpu()).unwrap();
        assert_eq!(eager.other, mapped.other);
        assert_eq!(eager.tensors.len(), mapped.tensors.len());
        for ((k1, a), (k2, b)) in eager.tensors.iter().zip(&mapped.tensors) {
            assert_eq!(k1, k2);
            assert_eq!((a.kind(), a.size()), (b.kind(), b.size()), "{k1}");
            assert!(a.equal(b), "{}: {k1}", file.display());
        }
    }
    let before = std::fs::read(&odd).unwrap();
    let mut mapped = safetensors::read_mapped(&odd, &cpu()).unwrap();
    for (_, t) in mapped.tensors.iter_mut() {
        let _ = t.fill_(42.0);
    }
    assert_eq!(mapped.tensors[1].1.double_value(&[0]), 42.0);
    drop(mapped);
    assert_eq!(std::fs::read(&odd).unwrap(), before, "writes to mapped tensors reached the file");
}
