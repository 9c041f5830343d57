//! torchvision's published weights: the table, and finding a file on disk by its hash prefix.
mod common;

use std::path::PathBuf;
use tchvision::models::weights::{find_weights, sha256_prefix, PublishedWeights};
use tchvision::registry::{all_weights, lookup_weights as lookup};

#[test]
fn table_matches_torchvision_naming() {
    for w in all_weights() {
        // `<arch>-<hash>.pth`, or `<arch>_<variant>-<hash>.pth` (ViT's `vit_b_16_swag-9ac1b537.pth`).
        let stem = w.file.strip_suffix(&format!("-{}.pth", w.hash_prefix())).unwrap_or("");
        assert!(stem == w.arch || stem.starts_with(&format!("{}_", w.arch)), "{w:?}");
        assert_eq!(w.hash_prefix().len(), 8);
        assert!(w.hash_prefix().chars().all(|c| c.is_ascii_hexdigit()));
    }
    assert_eq!(lookup("resnet50", "imagenet1k_v1").unwrap().file, "resnet50-0676ba61.pth");
    assert_eq!(lookup("resnet50", "DEFAULT").unwrap().name, "IMAGENET1K_V2");
    assert!(lookup("resnet50", "imagenet1k_v9").unwrap_err().to_string().contains("imagenet1k_v1"));
    assert!(lookup("vgg99", "default").is_err());
    assert_eq!(tchvision::models::weights::imagenet_categories().len(), 1000);
}

#[test]
fn table_equals_torchvisions_weights_enums() {
    let tv = common::json("cli/published_weights.json");
    let tv = tv.as_array().unwrap();
    let ours: Vec<_> = all_weights().into_iter().filter(|w| w.arch.contains("res")).collect();
    assert_eq!(ours.len(), tv.len());
    for (w, t) in ours.into_iter().zip(tv) {
        assert_eq!(w.arch, t["arch"]);
        assert_eq!(w.name, t["name"]);
        assert_eq!(w.file, t["file"]);
        assert_eq!(w.num_params, t["num_params"].as_i64().unwrap());
        assert_eq!(w.acc1, t["acc1"].as_f64().unwrap(), "{}", w.file);
        assert_eq!(w.acc5, t["acc5"].as_f64().unwrap(), "{}", w.file);
        assert_eq!(w.resize_size, t["resize_size"].as_i64().unwrap(), "{}", w.file);
        assert_eq!(w.crop_size, t["crop_size"].as_i64().unwrap(), "{}", w.file);
        assert_eq!(w.default, t["default"].as_bool().unwrap(), "{}", w.file);
        assert_eq!(w.categories().len() as i64, t["categories"].as_i64().unwrap());
    }
}

#[test]
fn sha256_prefix_equals_pythons_hashlib() {
    let f = common::fixture("cli/resnet18.pth");
    let out = std::process::Command::new(common::python())
        .args(["-c", "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())"])
        .arg(&f)
        .output()
        .unwrap();
    let theirs = String::from_utf8(out.stdout).unwrap();
    assert_eq!(sha256_prefix(&f, 64).unwrap(), theirs.trim());
}

#[test]
fn finds_verifies_and_refuses() {
    let src = common::fixture("cli/resnet18.pth");
    let prefix = sha256_prefix(&src, 8).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good: &'static str = Box::leak(format!("resnet18-{prefix}.pth").into_boxed_str());
    std::fs::copy(&src, dir.path().join(good)).unwrap();
    let w = PublishedWeights { file: good, ..*all_weights()[0] };
    assert_eq!(find_weights(&w, &[dir.path().to_path_buf()]).unwrap(), dir.path().join(good));

    // A file whose content does not match its name's hash is refused, naming both.
    let bad = *all_weights()[0]; // resnet18-f37072fd.pth
    std::fs::copy(&src, dir.path().join(bad.file)).unwrap();
    let err = find_weights(&bad, &[dir.path().to_path_buf()]).unwrap_err().to_string();
    assert!(err.contains("f37072fd") && err.contains(&prefix), "{err}");

    // Missing everywhere: an error that says where it looked and that nothing is downloaded.
    let empty = tempfile::tempdir().unwrap();
    let w = lookup("resnet34", "default").unwrap();
    let err = find_weights(w, &[PathBuf::from(empty.path())]).unwrap_err().to_string();
    assert!(err.contains("resnet34-b627a593.pth") && err.contains("never downloads"), "{err}");
}
