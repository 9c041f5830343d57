//! The seed's `YourNet`: a resnet50 backbone as submodule `resnet50` under the YOLO-v1 head.
//! Prints its named parameters as the seed does, then loads a plain resnet50.pth into the
//! backbone: first with the seed's own recipe (which loads nothing, since every key differs by
//! the `resnet50.` prefix: the report says so), then with the prefix option.
//!
//! Run: `cargo run --example your_net -- path/to/resnet50.pth`
use tch::{nn, Device};
use tchvision::checkpoint::{self, LoadOptions, ReadOptions};
use tchvision::models::seed::YourNet;
use tchvision::nn::ModuleExt;

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: your_net RESNET50.pth"))?;
    let vs = nn::VarStore::new(Device::Cpu);
    let model = YourNet::new(&vs.root())?;
    let params = model.named_parameters();
    for (name, _) in params.iter().take(6) {
        println!("{name}");
    }
    println!("...");
    for (name, _) in &params[params.len() - 6..] {
        println!("{name}");
    }

    let file = checkpoint::read(std::path::Path::new(&path), &ReadOptions::default())?;
    // The seed's recipe: pop fc.*, keep the keys the model has, load.
    let seed_recipe = LoadOptions::partial().drop_keys(r"^fc\.")?;
    let report = checkpoint::load_state_dict(
        &model,
        file.tensors.iter().map(|(k, t)| (k.clone(), t.shallow_clone())).collect(),
        &seed_recipe,
    )?;
    println!("\nthe seed's recipe: {}", report.summary());
    // With the prefix: every backbone key loads (fc included), the head stays as initialised.
    let with_prefix = LoadOptions::partial().add_prefix("resnet50.");
    let report = checkpoint::load_state_dict(&model, file.tensors, &with_prefix)?;
    println!("with add_prefix(\"resnet50.\"): loaded {} keys; {}", report.loaded.len(), report.summary());
    println!(
        "missing (the head): {:?}",
        report.missing.iter().filter(|k| !k.starts_with("resnet50.")).collect::<Vec<_>>()
    );
    Ok(())
}
