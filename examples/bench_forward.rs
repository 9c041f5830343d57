//! Benchmark: resnet50 forward on CPU, eval, 224×224, batch 1 and 8 — tchvision against
//! torchvision eager (inference_mode) and TorchScript (trace, freeze, optimize_for_inference),
//! in the same run, same thread count. Prints medians and ratios (ours / theirs: below 1 means
//! we are faster).
//!
//! Run: `cargo run --release --example bench_forward [-- RUNS]` (after `scripts/setup`).
use std::process::Command;
use std::time::Instant;

use tch::{nn, Device, Kind, Tensor};
use tchvision::models::resnet::{ResNet, ResNetConfig};
use tchvision::nn::{Module, ModuleExt};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(10);
    let warmup = 3;
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let batches = [1i64, 8];
    tch::set_num_threads(threads as i32);
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = ResNet::new(&vs.root(), &ResNetConfig::resnet50())?;
    model.eval();
    let mut ours = Vec::new();
    for &b in &batches {
        let x = Tensor::randn([b, 3, 224, 224], (Kind::Float, Device::Cpu));
        let _guard = tch::no_grad_guard();
        for _ in 0..warmup {
            let _ = model.try_forward_t(&x, false)?;
        }
        let mut t = Vec::new();
        for _ in 0..runs {
            let s = Instant::now();
            let _ = model.try_forward_t(&x, false)?;
            t.push(s.elapsed().as_secs_f64());
        }
        ours.push(median(t));
    }
    let py = std::env::var("TCHVISION_PYTHON")
        .ok()
        .or(option_env!("TCHVISION_PYTHON").map(String::from))
        .unwrap_or("python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_forward.py");
    let mut cmd = Command::new(py);
    cmd.arg(script).arg(threads.to_string()).arg(warmup.to_string()).arg(runs.to_string());
    for b in batches {
        cmd.arg(b.to_string());
    }
    let out = cmd.output()?;
    anyhow::ensure!(out.status.success(), "python baseline failed: {}", String::from_utf8_lossy(&out.stderr));
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    println!("resnet50 forward, CPU, eval, 224x224, {threads} threads, median of {runs} runs (after {warmup} warm-up)");
    println!(
        "{:>5} {:>12} {:>12} {:>12} {:>14} {:>14}",
        "batch", "tchvision", "eager", "torchscript", "ours/eager", "ours/script"
    );
    for (i, b) in batches.iter().enumerate() {
        let get = |k: &str| -> anyhow::Result<f64> {
            let v = theirs[k][b.to_string()].as_array().ok_or_else(|| anyhow::anyhow!("no {k} timing"))?;
            Ok(median(v.iter().filter_map(|x| x.as_f64()).collect()))
        };
        let (e, s) = (get("eager")?, get("torchscript")?);
        println!(
            "{:>5} {:>10.1}ms {:>10.1}ms {:>10.1}ms {:>14.3} {:>14.3}",
            b,
            ours[i] * 1e3,
            e * 1e3,
            s * 1e3,
            ours[i] / e,
            ours[i] / s
        );
    }
    Ok(())
}
