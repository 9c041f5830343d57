//! Benchmark: resnet50 forward on CPU, eval, 224×224, batch 1 and 8 — tchvision against
//! torchvision eager (inference_mode) and TorchScript (trace, freeze, optimize_for_inference),
//! in the same run, same thread count. Prints medians and ratios (ours / theirs: below 1 means
//! we are faster).
//!
//! Run: `cargo run --release --example bench_forward [-- ROUNDS RUNS]` (after `scripts/setup`).
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
    // Rounds alternate ours and torchvision's, so that load from other processes hits both
    // sides alike; medians are taken over every timed run of all rounds.
    let rounds: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let runs: usize = std::env::args().nth(2).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let warmup = 2;
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let batches = [1i64, 8];
    tch::set_num_threads(threads as i32);
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = ResNet::new(&vs.root(), &ResNetConfig::resnet50())?;
    model.eval();
    let py = std::env::var("TCHVISION_PYTHON")
        .ok()
        .or(option_env!("TCHVISION_PYTHON").map(String::from))
        .unwrap_or("python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_forward.py");
    let mut ours: Vec<Vec<f64>> = vec![Vec::new(); batches.len()];
    let mut eager: Vec<Vec<f64>> = vec![Vec::new(); batches.len()];
    let mut script_t: Vec<Vec<f64>> = vec![Vec::new(); batches.len()];
    for _ in 0..rounds {
        for (i, &b) in batches.iter().enumerate() {
            let x = Tensor::randn([b, 3, 224, 224], (Kind::Float, Device::Cpu));
            let _guard = tch::no_grad_guard();
            for _ in 0..warmup {
                let _ = model.try_forward_t(&x, false)?;
            }
            for _ in 0..runs {
                let s = Instant::now();
                let _ = model.try_forward_t(&x, false)?;
                ours[i].push(s.elapsed().as_secs_f64());
            }
        }
        let mut cmd = Command::new(&py);
        cmd.arg(script).arg(threads.to_string()).arg(warmup.to_string()).arg(runs.to_string());
        for b in batches {
            cmd.arg(b.to_string());
        }
        let out = cmd.output()?;
        anyhow::ensure!(out.status.success(), "python baseline failed: {}", String::from_utf8_lossy(&out.stderr));
        let theirs: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        for (i, b) in batches.iter().enumerate() {
            for (k, dst) in [("eager", &mut eager), ("torchscript", &mut script_t)] {
                let v = theirs[k][b.to_string()].as_array().ok_or_else(|| anyhow::anyhow!("no {k} timing"))?;
                dst[i].extend(v.iter().filter_map(|x| x.as_f64()));
            }
        }
    }
    println!(
        "resnet50 forward, CPU, eval, 224x224, {threads} threads; {rounds} alternating rounds of {runs} timed runs (after {warmup} warm-up) each side; medians"
    );
    println!("ours: no_grad; torchvision eager: inference_mode; torchscript: trace + freeze + optimize_for_inference");
    println!(
        "{:>5} {:>12} {:>12} {:>12} {:>14} {:>14}",
        "batch", "tchvision", "eager", "torchscript", "ours/eager", "ours/script"
    );
    for (i, b) in batches.iter().enumerate() {
        let (o, e, s) = (median(ours[i].clone()), median(eager[i].clone()), median(script_t[i].clone()));
        println!(
            "{:>5} {:>10.1}ms {:>10.1}ms {:>10.1}ms {:>14.3} {:>14.3}",
            b,
            o * 1e3,
            e * 1e3,
            s * 1e3,
            o / e,
            o / s
        );
    }
    Ok(())
}
