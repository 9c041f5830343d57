//! Benchmark: cold start. The wall time of one whole job in a fresh process — `tchvision run
//! resnet50 --weights resnet50.pth --input x.npy --output y.safetensors --device cpu` (the fast
//! path, the default; and `--no-optimize`) against the same job in Python (import torch and
//! torchvision, build, `load_state_dict(torch.load(...))`, forward, save; scripts/
//! bench_cold_start.py) — rounds alternating, page cache warm (one untimed run of each first).
//! Prints the medians and the ratio ours / Python.
//!
//! Run: `cargo build --release && cargo run --release --example bench_cold_start [-- ROUNDS]`.
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn timed(cmd: &mut Command) -> anyhow::Result<f64> {
    let t = Instant::now();
    let out = cmd.output()?;
    let s = t.elapsed().as_secs_f64();
    anyhow::ensure!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(s)
}

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(7);
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("tchvision"))
        .filter(|p| p.exists())
        .ok_or_else(|| anyhow::anyhow!("build the binary first: cargo build --release"))?;
    let py = std::env::var("TCHVISION_PYTHON")
        .ok()
        .or(option_env!("TCHVISION_PYTHON").map(String::from))
        .unwrap_or("python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_cold_start.py");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-cold-start");
    if !dir.join("resnet50.pth").exists() || !dir.join("x.npy").exists() {
        let st = Command::new(&py).arg(script).arg("make").arg(&dir).status()?;
        anyhow::ensure!(st.success(), "making the inputs failed");
    }
    let w = dir.join("resnet50.pth");
    let x = dir.join("x.npy");
    let ours = |extra: &[&str]| {
        let mut c = Command::new(&bin);
        c.args(["run", "resnet50", "--weights"]).arg(&w).arg("--input").arg(&x);
        c.arg("--output").arg(dir.join("ours.safetensors")).args(["--device", "cpu"]).args(extra);
        c
    };
    let python = || {
        let mut c = Command::new(&py);
        c.arg(script).args(["run", "resnet50"]).arg(&w).arg(&x).arg(dir.join("theirs.pt"));
        c
    };
    // Warm the page cache.
    timed(&mut ours(&[]))?;
    timed(&mut python())?;
    let (mut fast, mut plain, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        fast.push(timed(&mut ours(&[]))?);
        plain.push(timed(&mut ours(&["--no-optimize"]))?);
        theirs.push(timed(&mut python())?);
    }
    let (f, p, t) = (median(fast), median(plain), median(theirs));
    println!("cold start, resnet50 run on one 224x224 image, CPU, {rounds} alternating rounds, wall time medians");
    println!("tchvision run (fast path)     {:>8.3} s   {:.3}x Python", f, f / t);
    println!("tchvision run --no-optimize   {:>8.3} s   {:.3}x Python", p, p / t);
    println!("Python (torch + torchvision)  {:>8.3} s", t);
    Ok(())
}
