//! Benchmark: forward passes on CPU, eval, 224×224, batch 1 and 8 — tchvision's plain model, its
//! fast path in float32 and in bfloat16 (`tchvision::infer`) against torchvision eager, eager
//! bfloat16 channels-last, TorchScript (trace, freeze, optimize_for_inference) and TorchScript
//! with oneDNN Graph fusion (trace, freeze, `torch.jit.enable_onednn_fusion`), in the same
//! run, same thread count, rounds alternating between the two sides so that load from other
//! processes hits both alike. Prints medians over every timed run of all rounds and ratios
//! (ours / theirs: below 1 means we are faster), and the bfloat16 check: our bf16 logits
//! against our float32 logits (max |diff| / max |fp32|, same top-1).
//!
//! Models: resnet50, and mobilenet_v3_large, convnext_tiny, vit_b_16 when the registry has them
//! (or `TCHVISION_BENCH_MODELS=a,b`).
//!
//! Run: `cargo run --release --example bench_forward [-- ROUNDS RUNS [THREADS]]` (after
//! `scripts/setup`; THREADS defaults to the machine's cores).
use std::process::Command;
use std::time::Instant;

use tch::{nn, Device, Kind, Tensor};
use tchvision::infer::{Frozen, InferenceOptions, Precision};
use tchvision::models::api::{Model, Options};
use tchvision::nn::{Module, ModuleExt};
use tchvision::registry::{create_model, model_info};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn time(runs: usize, warmup: usize, mut f: impl FnMut() -> anyhow::Result<Tensor>) -> anyhow::Result<Vec<f64>> {
    for _ in 0..warmup {
        let _ = f()?;
    }
    let mut out = Vec::with_capacity(runs);
    for _ in 0..runs {
        let s = Instant::now();
        let y = f()?;
        out.push(s.elapsed().as_secs_f64());
        drop(y);
    }
    Ok(out)
}

/// One model at one batch size: the input and the three forms of ours.
struct Case {
    model: usize,
    batch: i64,
    x: Tensor,
    fp32: Frozen,
    bf16: Frozen,
}

const OURS: [&str; 3] = ["plain", "fast_fp32", "fast_bf16"];
const THEIRS: [&str; 4] = ["eager", "eager_bf16_cl", "torchscript", "torchscript_onednn_graph"];

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let runs: usize = std::env::args().nth(2).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let warmup = 2;
    let threads: usize = match std::env::args().nth(3) {
        Some(t) => t.parse()?,
        None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    let batches = [1i64, 8];
    tch::set_num_threads(threads as i32);
    let names: Vec<String> = match std::env::var("TCHVISION_BENCH_MODELS") {
        Ok(s) => s.split(',').map(String::from).collect(),
        Err(_) => ["resnet50", "mobilenet_v3_large", "convnext_tiny", "vit_b_16"]
            .iter()
            .filter(|n| model_info(n).is_ok())
            .map(|s| s.to_string())
            .collect(),
    };
    let mut stores = Vec::new();
    let mut models: Vec<Box<dyn Model>> = Vec::new();
    for name in &names {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = create_model(name, &vs.root(), &Options::default())?;
        m.eval();
        // ViT's head starts at zero (its logits would all be 0): random values, as the Python side.
        tch::no_grad(|| {
            for (_, mut p) in m.named_parameters() {
                if p.abs().max().double_value(&[]) == 0.0 {
                    let _ = p.uniform_(-0.1, 0.1);
                }
            }
        });
        stores.push(vs);
        models.push(m);
    }
    let mut cases = Vec::new();
    let mut checks = Vec::new();
    for (mi, m) in models.iter().enumerate() {
        for &b in &batches {
            tch::manual_seed(1);
            let x = Tensor::randn([b, 3, 224, 224], (Kind::Float, Device::Cpu));
            let model: &dyn Module = m.as_ref();
            let fp32 = Frozen::new(model, &x, &InferenceOptions::default())?;
            let bf16 = Frozen::new(model, &x, &InferenceOptions::default().precision(Precision::Bf16))?;
            let plain = tch::no_grad(|| model.try_forward_t(&x, false))?;
            let (y32, y16) = (fp32.forward(&x)?, bf16.forward(&x)?);
            let rel = |a: &Tensor| -> f64 {
                (a - &plain).abs().max().double_value(&[]) / plain.abs().max().double_value(&[])
            };
            let top1 = y16.argmax(-1, false).eq_tensor(&plain.argmax(-1, false)).all().int64_value(&[]) == 1;
            let form = |f: &Frozen| f.cpu_layout().map(|l| l.to_string()).unwrap_or_default();
            println!(
                "{} batch {b}: fast fp32 runs {} (trials {:?}), fast bf16 runs {} (trials {:?})",
                names[mi],
                form(&fp32),
                fp32.layout_trials(),
                form(&bf16),
                bf16.layout_trials()
            );
            checks.push((mi, b, rel(&y32), rel(&y16), top1));
            cases.push(Case { model: mi, batch: b, x, fp32, bf16 });
        }
    }
    let py = std::env::var("TCHVISION_PYTHON")
        .ok()
        .or(option_env!("TCHVISION_PYTHON").map(String::from))
        .unwrap_or("python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_forward.py");
    // times[case][variant]: ours then theirs.
    let mut times: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); OURS.len() + THEIRS.len()]; cases.len()];
    let mut py_check = serde_json::Value::Null;
    for _ in 0..rounds {
        for (ci, c) in cases.iter().enumerate() {
            let model: &dyn Module = models[c.model].as_ref();
            let _guard = tch::no_grad_guard();
            let t = time(runs, warmup, || Ok(model.try_forward_t(&c.x, false)?))?;
            times[ci][0].extend(t);
            let t = time(runs, warmup, || Ok(c.fp32.forward(&c.x)?))?;
            times[ci][1].extend(t);
            let t = time(runs, warmup, || Ok(c.bf16.forward(&c.x)?))?;
            times[ci][2].extend(t);
        }
        let bs: Vec<String> = batches.iter().map(|b| b.to_string()).collect();
        let out = Command::new(&py)
            .arg(script)
            .arg(threads.to_string())
            .arg(warmup.to_string())
            .arg(runs.to_string())
            .arg(names.join(","))
            .arg(bs.join(","))
            .output()?;
        anyhow::ensure!(out.status.success(), "python baseline failed: {}", String::from_utf8_lossy(&out.stderr));
        let theirs: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        for (ci, c) in cases.iter().enumerate() {
            for (k, key) in THEIRS.iter().enumerate() {
                let v = theirs[key][&names[c.model]][c.batch.to_string()]
                    .as_array()
                    .ok_or_else(|| anyhow::anyhow!("no {key} timing"))?;
                times[ci][3 + k].extend(v.iter().filter_map(|x| x.as_f64()));
            }
        }
        py_check = theirs["bf16_check"].clone();
    }
    println!(
        "forward, CPU, eval, 224x224, {threads} threads; {rounds} alternating rounds of {runs} timed runs (after {warmup} warm-up) each side; medians in ms"
    );
    println!("ours: plain (no_grad), fast_fp32 / fast_bf16 (tchvision::infer); torchvision: eager and eager_bf16_cl (inference_mode), torchscript (trace + freeze + optimize_for_inference), torchscript_onednn_graph (trace + freeze, oneDNN Graph fusion)");
    print!("{:<20} {:>5}", "model", "batch");
    for k in OURS.iter().chain(THEIRS.iter()) {
        print!(" {:>13}", &k[..k.len().min(13)]);
    }
    println!(
        " {:>13} {:>13} {:>13} {:>13} {:>13}",
        "fp32/script", "fp32/eager", "fp32/scr_llga", "bf16/script", "bf16/eagerbf"
    );
    for (ci, c) in cases.iter().enumerate() {
        let m: Vec<f64> = times[ci].iter().map(|v| median(v.clone())).collect();
        print!("{:<20} {:>5}", names[c.model], c.batch);
        for v in &m {
            print!(" {:>13.1}", v * 1e3);
        }
        println!(
            " {:>13.3} {:>13.3} {:>13.3} {:>13.3} {:>13.3}",
            m[1] / m[5],
            m[1] / m[3],
            m[1] / m[6],
            m[2] / m[5],
            m[2] / m[4]
        );
    }
    println!("bf16 check (ours: fast fp32 and fast bf16 against the plain model; torchvision: eager bf16 against eager fp32), same input:");
    for (mi, b, e32, e16, top1) in checks {
        let t = &py_check[&names[mi]][b.to_string()];
        println!(
            "{:<20} batch {b}: ours fp32 rel err {e32:.1e}, bf16 rel err {e16:.2e}, same top-1: {top1}; torchvision bf16 rel err {:.2e}, same top-1: {}",
            names[mi],
            t["rel_err"].as_f64().unwrap_or(f64::NAN),
            t["top1_equal"]
        );
    }
    Ok(())
}
