//! The fixtures are remade when what they were made from changes (scripts/fixtures.py): the
//! stamp names the versions of torch and torchvision and the sha256 of every fixture script and
//! of every input file the scripts read (the example images), and a changed input changes it.

mod common;

use serde_json::Value;
use sha2::{Digest, Sha256};

fn sha256(path: &std::path::Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap()).iter().map(|b| format!("{b:02x}")).collect()
}

fn python(code: &str) -> String {
    let o = std::process::Command::new(common::python()).args(["-c", code]).output().unwrap();
    assert!(o.status.success(), "python: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[test]
fn the_stamp_names_versions_and_the_hashes_of_scripts_and_inputs() {
    let stamp: Value = serde_json::from_slice(&std::fs::read(common::fixtures().join("STAMP")).unwrap()).unwrap();
    // The versions of the torch and torchvision that wrote the fixtures: those Python imports.
    let imported = python("import torch, torchvision; print(torch.__version__); print(torchvision.__version__)");
    let imported: Vec<&str> = imported.lines().collect();
    for (name, version) in ["torch", "torchvision"].iter().zip(&imported) {
        let v = stamp["versions"][name].as_str().unwrap_or_else(|| panic!("no {name} version in the stamp"));
        assert!(!v.is_empty() && version.starts_with(v), "{name}: stamp {v}, imported {version}");
    }
    // Every fixture script and every example image, with its sha256.
    let files = stamp["files"].as_object().unwrap();
    let mut expected = Vec::new();
    for dir in ["scripts", "examples/images"] {
        for e in std::fs::read_dir(common::root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if dir == "scripts" && !(name.starts_with("fixtures") && name.ends_with(".py")) {
                continue;
            }
            let key = format!("{dir}/{name}");
            assert_eq!(files.get(&key).and_then(Value::as_str), Some(sha256(&p).as_str()), "{key}");
            expected.push(key);
        }
    }
    common::assert_covered("files in the stamp", files.keys(), &expected);
}

#[test]
fn a_changed_input_or_version_changes_the_stamp() {
    // scripts/fixtures.py's stamp() with its inputs in a copy, before and after one byte changes.
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("examples/images");
    std::fs::create_dir_all(&images).unwrap();
    for e in std::fs::read_dir(common::root().join("examples/images")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, images.join(p.file_name().unwrap())).unwrap();
    }
    let script = format!(
        r#"
import importlib.util, json, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("fixtures", {:?})
f = importlib.util.module_from_spec(spec); spec.loader.exec_module(f)
f.ROOT = Path({:?})
a = f.stamp()
img = f.ROOT / "examples/images/chelsea.png"
b = bytearray(img.read_bytes()); b[-1] ^= 1; img.write_bytes(bytes(b))
c = f.stamp()
real = f.versions
f.versions = lambda: {{**real(), "torch": "0.0.0"}}
d = f.stamp()
print(json.dumps([a != c, c != d]))
"#,
        common::root().join("scripts/fixtures.py"),
        dir.path()
    );
    let out: Vec<bool> = serde_json::from_str(&python(&script)).unwrap();
    assert!(out[0], "changing an example image must change the stamp");
    assert!(out[1], "another torch version must change the stamp");
}
