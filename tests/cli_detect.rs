//! `tchvision detect` end to end through the built binary, on an image shipped in the repo.
//! Random weights: this tests the plumbing and the files, not the boxes' meaning.

use std::process::Command;

#[test]
fn detect_writes_pngs_and_json_for_shipped_images() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let rocket = root.join("examples/images/rocket.jpg");
    let cat = root.join("examples/images/chelsea.png");
    let out = Command::new(env!("CARGO_BIN_EXE_tchvision"))
        .args(["detect", "yolo_v1"])
        .arg(&rocket)
        .arg(&cat)
        .args(["--conf", "0.0001", "--iou", "0.5", "--json", "--device", "cpu", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let images = v.as_array().unwrap();
    assert_eq!(images.len(), 2);
    let (w, h) = (640, 427); // rocket.jpg's size
    for (img, src) in images.iter().zip([&rocket, &cat]) {
        assert_eq!(img["image"].as_str().unwrap(), src.display().to_string());
        // With a near-zero threshold even random weights give detections to check.
        assert!(!img["detections"].as_array().unwrap().is_empty(), "{img}");
        for d in img["detections"].as_array().unwrap() {
            assert!(d["class"].is_string());
            let s = d["score"].as_f64().unwrap();
            assert!(s > 0.0001 && s <= 1.0, "{d}");
            let b: Vec<f64> = d["box"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            assert!(b[0] <= b[2] && b[1] <= b[3], "{d}");
            assert!(b.iter().all(|&x| x >= 0.0), "{d}");
        }
    }
    // The drawings keep each image's size.
    let drawn = tchvision::imageio::load_rgb(&dir.path().join("rocket.png")).unwrap();
    let src = tchvision::imageio::load_rgb(&rocket).unwrap();
    assert_eq!(drawn.size(), src.size());
    assert_eq!(src.size(), [3, h, w]);
    assert!(dir.path().join("chelsea.png").exists());

    // A non-image is one clear error line, non-zero exit.
    let bad = dir.path().join("bad.jpg");
    std::fs::write(&bad, b"not a jpeg").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tchvision"))
        .args(["detect", "yolo_v1"])
        .arg(&bad)
        .args(["--device", "cpu", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jpg") && !err.contains("panicked"), "{err}");
}
