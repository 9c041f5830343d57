//! `tchvision list [--json]`: the registry's models with their parameter counts and default
//! input sizes.

use std::io::Write;

use serde::Serialize;
use tchvision::models::registry::list_models;
use tchvision::nn::ModuleExt;

use crate::common::{build, print_json, progress};

/// Arguments of `tchvision list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON: `[{"name", "family", "num_params", "input_size": [h, w], "num_classes"}]`.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: crate::common::DeviceArg,
}

#[derive(Serialize)]
struct Row {
    name: &'static str,
    family: &'static str,
    num_params: i64,
    input_size: [i64; 2],
    num_classes: i64,
}

/// Runs `tchvision list`: builds each model once to count its parameters.
pub fn run(args: Args) -> anyhow::Result<()> {
    let device = args.device.get()?;
    let models = list_models();
    let pb = progress(models.len() as u64, "counting parameters");
    let mut rows = Vec::new();
    for info in models {
        let built = build(info.name, None, device)?;
        rows.push(Row {
            name: info.name,
            family: info.family,
            num_params: built.model.num_parameters(),
            input_size: info.default_input,
            num_classes: info.num_classes,
        });
        pb.inc(1);
    }
    pb.finish_and_clear();
    if args.json {
        return print_json(&rows);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<20} {:<8} {:>14} {:>10} {:>8}", "name", "family", "parameters", "input", "classes")?;
    for r in rows {
        let input = format!("{}x{}", r.input_size[0], r.input_size[1]);
        writeln!(out, "{:<20} {:<8} {:>14} {:>10} {:>8}", r.name, r.family, r.num_params, input, r.num_classes)?;
    }
    Ok(())
}
