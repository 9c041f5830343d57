//! `tchvision list [--json]`: the registry's models with their parameter counts and default
//! input sizes.

use serde::Serialize;
use tchvision::registry::list_models;

use crate::common::print_json;

/// Arguments of `tchvision list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON: `[{"name", "family", "task", "num_params", "input_size": [h, w], "num_classes"}]`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Row {
    name: &'static str,
    family: &'static str,
    task: tchvision::models::api::Task,
    num_params: i64,
    input_size: [i64; 2],
    num_classes: i64,
}

/// Runs `tchvision list`: the registry's table (parameter counts are data, checked against the
/// built models by a test; nothing is built).
pub fn run(args: Args) -> anyhow::Result<()> {
    let rows: Vec<Row> = list_models()
        .into_iter()
        .map(|info| Row {
            name: info.name,
            family: info.family,
            task: info.task,
            num_params: info.num_params,
            input_size: info.default_input,
            num_classes: info.num_classes,
        })
        .collect();
    if args.json {
        return print_json(&rows);
    }
    println!("{:<20} {:<14} {:>14} {:>10} {:>8}", "name", "family", "parameters", "input", "classes");
    for r in rows {
        let input = format!("{}x{}", r.input_size[0], r.input_size[1]);
        println!("{:<20} {:<14} {:>14} {:>10} {:>8}", r.name, r.family, r.num_params, input, r.num_classes);
    }
    Ok(())
}
