//! Image decoding and ImageNet preprocessing against torchvision (fixtures: scripts/fixtures_cli.py).
mod common;

use common::{assert_close, fixture, tensors};
use tchvision::imageio::{self, center_crop, resized_size, Preprocess};

fn images() -> std::path::PathBuf {
    common::root().join("examples/images")
}

#[test]
fn decoding_equals_torchvision_decode_image() {
    let t = tensors("cli/preprocess.safetensors");
    for name in ["chelsea.png", "rocket.jpg"] {
        let ours = imageio::load_rgb(&images().join(name)).unwrap();
        let theirs = &t[&format!("{}_decoded", name.replace('.', "_"))];
        assert_eq!(ours.size(), theirs.size(), "{name}");
        if name.ends_with(".png") {
            assert!(ours.equal(theirs), "{name}: PNG decoding must be exact");
        } else {
            // JPEG decoders may differ by rounding in the IDCT / upsampling.
            assert_close(name, &ours, theirs, 0.0, 8.0);
            let mean_diff = (ours.to_kind(tch::Kind::Float) - theirs.to_kind(tch::Kind::Float))
                .abs()
                .mean(tch::Kind::Float)
                .double_value(&[]);
            assert!(mean_diff < 1.5, "{name}: mean abs difference {mean_diff}");
        }
    }
}

#[test]
fn grayscale_and_rgba_become_rgb_as_pil_convert_does() {
    let t = tensors("cli/modes_expected.safetensors");
    for name in ["gray", "rgba"] {
        let ours = imageio::load_rgb(&fixture(&format!("cli/{name}.png"))).unwrap();
        assert!(ours.equal(&t[name]), "{name}");
    }
}

#[test]
fn empty_and_corrupt_images_are_clear_errors() {
    for (name, needle) in [("empty.png", "empty"), ("not_an_image.png", "decode")] {
        let err = imageio::load_rgb(&fixture(&format!("cli/{name}"))).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(needle), "{err}");
    }
    let err = imageio::load_rgb(std::path::Path::new("/nonexistent/x.png")).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/x.png"), "{err}");
}

#[test]
fn preprocessing_equals_torchvision_float_path_and_is_near_the_preset() {
    let t = tensors("cli/preprocess.safetensors");
    for name in ["chelsea.png", "rocket.jpg"] {
        let key = name.replace('.', "_");
        let img = &t[&format!("{key}_decoded")];
        for resize in [256, 232] {
            let ours = Preprocess::imagenet(resize, 224).apply(img).unwrap();
            // Same algorithm as torchvision's resize on float tensors: equal to float rounding.
            assert_close(&format!("{name} float {resize}"), &ours, &t[&format!("{key}_float_{resize}")], 1e-5, 1e-4);
            // torchvision's preset resizes uint8 natively and rounds to uint8 before scaling:
            // at most a rounding step (1/255 over the smallest std, 0.225) apart.
            assert_close(
                &format!("{name} preset {resize}"),
                &ours,
                &t[&format!("{key}_preset_{resize}")],
                0.0,
                1.0 / 255.0 / 0.225 + 1e-4,
            );
        }
    }
}

#[test]
fn resize_and_crop_sizes_follow_torchvision() {
    // torchvision: the short side becomes `size`, the long one int(size * long / short).
    assert_eq!(resized_size(451, 300, 256), (384, 256)); // int(256 * 451 / 300) = 384
    assert_eq!(resized_size(300, 451, 232), (232, 348)); // int(232 * 451 / 300) = 348.77 -> 348
    assert_eq!(resized_size(100, 100, 224), (224, 224));
    // center_crop offsets use Python's round (half to even): (5 - 2) / 2 = 1.5 -> 2; (7 - 2) / 2 = 2.5 -> 2.
    let x = tch::Tensor::arange(7, (tch::Kind::Int64, tch::Device::Cpu)).view([1, 1, 7]).expand([1, 5, 7], true);
    let c = center_crop(&x.contiguous(), 2, 2).unwrap();
    assert_eq!(Vec::<i64>::try_from(c.get(0).get(0)).unwrap(), vec![2, 3]);
    let rows = tch::Tensor::arange(5, (tch::Kind::Int64, tch::Device::Cpu)).view([1, 5, 1]).expand([1, 5, 7], true);
    let c = center_crop(&rows.contiguous(), 2, 2).unwrap();
    assert_eq!(Vec::<i64>::try_from(c.get(0).select(1, 0)).unwrap(), vec![2, 3]);
    // A crop larger than the image pads with zeros: left (4-2)//2 = 1, right (4-2+1)//2 = 1.
    let small = tch::Tensor::ones([1, 2, 2], (tch::Kind::Float, tch::Device::Cpu));
    let c = center_crop(&small, 4, 4).unwrap();
    assert_eq!(c.size(), [1, 4, 4]);
    assert_eq!(c.sum(tch::Kind::Float).double_value(&[]), 4.0);
    assert_eq!(c.double_value(&[0, 1, 1]), 1.0);
    assert_eq!(c.double_value(&[0, 0, 0]), 0.0);
}

#[test]
fn png_round_trip_and_feature_grid() {
    let dir = tempfile::tempdir().unwrap();
    let img = imageio::load_rgb(&images().join("chelsea.png")).unwrap();
    let p = dir.path().join("x.png");
    imageio::save_png(&p, &img).unwrap();
    assert!(imageio::load_rgb(&p).unwrap().equal(&img));
    // 10 channels of 3x4 in rows of 4: 3 rows -> (3*(3+1)-1) x (4*(4+1)-1) = 11 x 19.
    let f = tch::Tensor::randn([10, 3, 4], (tch::Kind::Float, tch::Device::Cpu));
    let g = imageio::feature_grid(&f, 4).unwrap();
    assert_eq!(g.size(), [1, 11, 19]);
    // Each tile is min-max scaled: its extremes are 0 and 255.
    let tile = g.get(0).narrow(0, 4, 3).narrow(1, 5, 4); // channel 5: row 1, column 1
    assert_eq!(tile.max().int64_value(&[]), 255);
    assert_eq!(tile.min().int64_value(&[]), 0);
    let gray = dir.path().join("g.png");
    imageio::save_png(&gray, &g).unwrap();
    let back = imageio::load_rgb(&gray).unwrap();
    assert!(back.get(0).equal(&g.get(0)) && back.get(2).equal(&g.get(0)));
    assert!(imageio::save_png(&p, &f).is_err(), "float images are refused");
}
