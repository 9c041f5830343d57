//! torchvision's published weights: the table, and finding a file on disk by its hash prefix.
mod common;

use std::path::PathBuf;
use tchvision::models::weights::{find_weights, sha256_prefix, PublishedWeights};
use tchvision::registry::{all_weights, lookup_weights as lookup};

#[test]
fn table_matches_torchvision_naming() {
    for w in all_weights() {
        assert_eq!(w.file, format!("{}-{}.pth", w.arch, w.hash_prefix()), "{w:?}");
        assert_eq!(w.hash_prefix().len(), 8);
        assert!(w.hash_prefix().chars().all(|c| c.is_ascii_hexdigit()));
    }
    assert_eq!(lookup("resnet50", "imagenet1k_v1").unwrap().file, "resnet50-0676ba61.pth");
    assert_eq!(lookup("resnet50", "DEFAULT").unwrap().name, "IMAGENET1K_V2");
    assert!(lookup("resnet50", "imagenet1k_v9").unwrap_err().to_string().contains("imagenet1k_v1"));
    assert!(lookup("vgg99", "default").is_err());
    assert_eq!(tchvision::models::weights::imagenet_categories().len(), 1000);
}

/// Every registered model's table holds exactly torchvision's weights for it, in order, with
/// torchvision's metadata and preprocessing.
#[test]
fn tables_equal_torchvisions_weights_enums() {
    let tv = common::json("cli/published_weights.json");
    let tv = tv.as_array().unwrap();
    let mut compared = 0;
    for info in tchvision::registry::list_models() {
        let theirs: Vec<&serde_json::Value> = tv.iter().filter(|t| t["arch"] == info.name).collect();
        if info.task == tchvision::models::api::Task::Detection {
            assert!(theirs.is_empty() && info.weights.is_empty(), "{}", info.name);
            continue;
        }
        assert_eq!(info.weights.len(), theirs.len(), "{}: number of published weights", info.name);
        for (w, t) in info.weights.iter().zip(theirs) {
            assert_eq!(w.arch, info.name);
            assert_eq!(w.name, t["name"]);
            assert_eq!(w.file, t["file"]);
            assert_eq!(w.num_params, t["num_params"].as_i64().unwrap(), "{}", w.file);
            assert_eq!(info.num_params, w.num_params, "{}: the registry's count", w.file);
            assert_eq!(w.acc1, t["acc1"].as_f64().unwrap(), "{}", w.file);
            assert_eq!(w.acc5, t["acc5"].as_f64().unwrap(), "{}", w.file);
            assert_eq!(w.gflops, t["gflops"].as_f64().unwrap(), "{}", w.file);
            assert_eq!(w.file_size_mb, t["file_size_mb"].as_f64().unwrap(), "{}", w.file);
            assert_eq!(w.resize_size, t["resize_size"].as_i64().unwrap(), "{}", w.file);
            assert_eq!(w.crop_size, t["crop_size"].as_i64().unwrap(), "{}", w.file);
            assert_eq!(serde_json::to_value(w.interpolation).unwrap(), t["interpolation"], "{}", w.file);
            assert_eq!(w.default, t["default"].as_bool().unwrap(), "{}", w.file);
            assert_eq!(w.categories().len() as i64, t["categories"].as_i64().unwrap());
            compared += 1;
        }
    }
    assert_eq!(compared, tchvision::registry::all_weights().len());
    assert!(compared >= 17, "the ResNet family alone has 17");
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
