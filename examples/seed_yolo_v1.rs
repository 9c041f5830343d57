//! The tutorial's first network: builds `Yolo_v1(20)` and prints one `name shape` line per
//! entry of `named_parameters()`, as the seed's `for name, value in model.named_parameters()`
//! loop does; then runs one forward pass in eval mode.
//!
//! Run: `cargo run --example seed_yolo_v1`
use tch::{nn, Device, Kind, Tensor};
use tchvision::models::seed::Yolo_v1;
use tchvision::nn::ModuleExt;

fn main() -> anyhow::Result<()> {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Yolo_v1::new(&vs.root(), 20)?;
    for (name, value) in model.named_parameters() {
        println!("{name} {:?}", value.size());
    }
    model.eval();
    let x = Tensor::randn([1, 3, 448, 448], (Kind::Float, Device::Cpu));
    let y = tch::no_grad(|| model.try_forward(&x))?;
    println!("input {:?} -> output {:?} (7*7*(2*5+20) = {})", x.size(), y.size(), 7 * 7 * 30);
    Ok(())
}
