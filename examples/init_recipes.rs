//! The tutorial's three initialisation recipes on the seed's `Yolo_v1`, each a few lines on
//! `apply`: (a) `_initialize_weights`, (b) torchvision's kaiming fan_out, (c)
//! `weights_init_kaiming` + `weights_init_classifier` applied to one submodule only.
//!
//! Run: `cargo run --example init_recipes`
use tch::{nn, Device};
use tchvision::init::{self, recipes, FanMode, Nonlinearity};
use tchvision::models::seed::Yolo_v1;
use tchvision::nn::{ModuleExt, ModuleKind};

fn std_of(model: &Yolo_v1, key: &str) -> f64 {
    let sd = model.state_dict();
    let t = &sd.iter().find(|(k, _)| k == key).expect("key").1;
    t.std(true).double_value(&[])
}

fn main() -> anyhow::Result<()> {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    // (a) runs inside the constructor, as in the seed.
    let model = Yolo_v1::new(&vs.root(), 20)?;
    println!(
        "(a) conv_layer1.0.weight std {:.5} (sqrt(2/(7*7*64)) = {:.5})",
        std_of(&model, "conv_layer1.0.weight"),
        (2.0f64 / (7.0 * 7.0 * 64.0)).sqrt()
    );

    // (b) the same walk written inline, as the seed's loop over `self.modules()`.
    model.apply(|_path, m| {
        match m.kind() {
            ModuleKind::Conv2d => {
                init::kaiming_normal_(&mut m.parameter("weight").unwrap(), FanMode::FanOut, Nonlinearity::Relu)?
            }
            ModuleKind::BatchNorm2d | ModuleKind::GroupNorm => {
                init::constant_(&mut m.parameter("weight").unwrap(), 1.0)?;
                init::constant_(&mut m.parameter("bias").unwrap(), 0.0)?;
            }
            _ => {}
        }
        Ok(())
    })?;
    println!(
        "(b) conv_layer1.0.weight std {:.5} (sqrt(2/(64*7*7)) = {:.5})",
        std_of(&model, "conv_layer1.0.weight"),
        (2.0f64 / (64.0 * 49.0)).sqrt()
    );

    // (c) one submodule only, as `self.conv_layer1.apply(weights_init_kaiming)`.
    recipes::weights_init_kaiming(&model.conv_layer1)?;
    recipes::weights_init_classifier(&model.conv_layer1)?;
    println!(
        "(c) conv_layer1.0.weight std {:.5} (kaiming fan_in: sqrt(2/(3*7*7)) = {:.5})",
        std_of(&model, "conv_layer1.0.weight"),
        (2.0f64 / 147.0).sqrt()
    );
    println!("    conv_layer1.1.weight std {:.5} (BatchNorm2d: N(1, 0.02))", std_of(&model, "conv_layer1.1.weight"));
    Ok(())
}
