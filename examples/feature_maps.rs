//! The seed's feature-map pictures: a forward that returns `(feature, output)`, and a PNG grid
//! of one layer's channels for an image (one grayscale tile per channel).
//!
//! Run: `cargo run --example feature_maps [-- IMAGE [OUT.png]]` (default: the cat shipped in
//! examples/images, written to feature_maps.png).
use std::path::PathBuf;

use tch::{nn, Device};
use tchvision::imageio::{self, Preprocess};
use tchvision::models::seed::Yolo_v1;
use tchvision::nn::ModuleExt;

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let image = std::env::args().nth(1).map(PathBuf::from).unwrap_or(root.join("examples/images/chelsea.png"));
    let out = std::env::args().nth(2).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("feature_maps.png"));
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Yolo_v1::new(&vs.root(), 20)?;
    model.eval();
    // 448x448, as YOLO-v1 takes it: resize the short side to 448 and crop the centre.
    let x = Preprocess::imagenet(448, 448).apply(&imageio::load_rgb(&image)?)?.unsqueeze(0);
    // The seed's `return feature, output`: conv_layer2's output next to the prediction.
    let (feature, output) = tch::no_grad(|| model.forward_with_feature(&x, false))?;
    println!("feature (conv_layer2) {:?}, output {:?}", feature.size(), output.size());
    let grid = imageio::feature_grid(&feature.get(0), 16)?;
    imageio::save_png(&out, &grid)?;
    println!("wrote {} ({} channels in a 16-wide grid)", out.display(), feature.size()[1]);
    Ok(())
}
