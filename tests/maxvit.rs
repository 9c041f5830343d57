//! MaxViT's own behaviour against torchvision (fixtures of scripts/fixtures_maxvit.py); the
//! structure, parity, init and train-mode tests are the generic zoo tests (tests/zoo.rs).
//!
//! * An `input_size` whose block inputs do not divide into the partitions is refused with
//!   torchvision's message.
//! * A model runs only at the size it was built for: torchvision fails on other sizes, here it
//!   is one clear error naming the size; built with `input_size`, it runs at that size.
mod common;

use tch::{nn::VarStore, Device, Kind, Tensor};
use tchvision::models::api::Options;
use tchvision::nn::ModuleExt;
use tchvision::registry::create_model;
use tchvision::Error;

#[test]
fn input_size_not_divisible_is_refused_with_torchvisions_message() {
    let fx = common::json("maxvit/maxvit.json");
    let want = fx["build_256"].as_str().expect("torchvision refuses input_size=(256, 256)");
    let vs = VarStore::new(Device::Cpu);
    let e = create_model("maxvit_t", &vs.root(), &Options::default().set("input_size", "256,256")).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains(want), "{e}\nvs torchvision's\n{want}");
}

#[test]
fn runs_only_at_the_size_it_was_built_for() {
    let fx = common::json("maxvit/maxvit.json");
    let _s = common::serial();
    let vs = VarStore::new(Device::Cpu);
    let m = create_model("maxvit_t", &vs.root(), &Options::default().num_classes(3)).unwrap();
    m.eval();
    for s in [256, 448] {
        assert!(fx[format!("run_{s}_refused")].as_bool().unwrap(), "torchvision runs at {s}");
        let x = Tensor::zeros([1, 3, s, s], (Kind::Float, Device::Cpu));
        match m.try_forward(&x) {
            Err(Error::InputShape { expected, actual, .. }) => {
                assert!(expected.contains("224, 224") && expected.contains("input_size"), "{expected}");
                assert_eq!(actual, [1, 3, s, s]);
            }
            other => panic!("{s}x{s}: expected an input-shape error, got {other:?}"),
        }
    }
    // Built for 221×223 (every block input divides into 7), it runs there, as torchvision.
    let vs = VarStore::new(Device::Cpu);
    let o = Options::default().num_classes(3).set("input_size", "221,223");
    let m = create_model("maxvit_t", &vs.root(), &o).unwrap();
    m.eval();
    let y = tch::no_grad(|| m.try_forward(&Tensor::zeros([1, 3, 221, 223], (Kind::Float, Device::Cpu)))).unwrap();
    assert_eq!(serde_json::json!(y.size()), fx["run_221x223_shape"]);
}
