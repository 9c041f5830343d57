//! Benchmark: cold start. The wall and CPU time of one whole job in a fresh process —
//! `tchvision run resnet50 --weights resnet50.pth --input x.npy --output y.safetensors --device
//! cpu` (as it is; with `--no-optimize`; with `--precision bf16`, which builds the bfloat16
//! graph) against the same job in Python (import torch and torchvision, build,
//! `load_state_dict(torch.load(...))`, forward, save; scripts/bench_cold_start.py) — rounds
//! alternating, page cache warm (one untimed run of each first). Prints medians and ratios ours /
//! Python. CPU time is the steadier measure on a shared machine.
//!
//! Run: `cargo build --release && cargo run --release --example bench_cold_start [-- ROUNDS
//! [THREADS]]`; THREADS sets `OMP_NUM_THREADS` for both sides (on a loaded machine 1 keeps
//! OpenMP's spinning threads out of the CPU times).
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

/// CPU time (user + system) of all waited-for children so far.
fn children_cpu() -> f64 {
    // SAFETY: getrusage fills the zeroed struct.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut r) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(r.ru_utime) + tv(r.ru_stime)
}

/// Wall time and CPU time of one run of `cmd`.
fn timed(cmd: &mut Command) -> anyhow::Result<(f64, f64)> {
    let c0 = children_cpu();
    let t = Instant::now();
    let out = cmd.output()?;
    let s = t.elapsed().as_secs_f64();
    anyhow::ensure!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok((s, children_cpu() - c0))
}

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(7);
    let threads: Option<usize> = std::env::args().nth(2).map(|s| s.parse()).transpose()?;
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
        if let Some(t) = threads {
            c.env("OMP_NUM_THREADS", t.to_string());
        }
        c
    };
    let python = || {
        let mut c = Command::new(&py);
        c.arg(script).args(["run", "resnet50"]).arg(&w).arg(&x).arg(dir.join("theirs.pt"));
        if let Some(t) = threads {
            c.env("OMP_NUM_THREADS", t.to_string());
        }
        c
    };
    // Warm the page cache.
    timed(&mut ours(&[]))?;
    timed(&mut python())?;
    let cases: [(&str, Vec<&str>); 3] = [
        ("tchvision run", vec![]),
        ("tchvision run --no-optimize", vec!["--no-optimize"]),
        ("tchvision run --precision bf16", vec!["--precision", "bf16"]),
    ];
    let mut ours_t: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); cases.len()];
    let (mut py_wall, mut py_cpu) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for (i, (_, extra)) in cases.iter().enumerate() {
            let (w, c) = timed(&mut ours(extra))?;
            ours_t[i].0.push(w);
            ours_t[i].1.push(c);
        }
        let (w, c) = timed(&mut python())?;
        py_wall.push(w);
        py_cpu.push(c);
    }
    let (pw, pc) = (median(py_wall), median(py_cpu));
    let t = threads.map(|t| format!("OMP_NUM_THREADS={t}")).unwrap_or_else(|| "default threads".into());
    println!(
        "cold start: resnet50 on one 224x224 image, CPU, {t}, {rounds} alternating rounds; medians of wall time and of CPU time (user + system)"
    );
    println!("{:<34} {:>9} {:>9} {:>11} {:>11}", "job", "wall s", "cpu s", "wall/Python", "cpu/Python");
    for (i, (name, _)) in cases.iter().enumerate() {
        let (w, c) = (median(ours_t[i].0.clone()), median(ours_t[i].1.clone()));
        println!("{name:<34} {w:>9.3} {c:>9.3} {:>11.3} {:>11.3}", w / pw, c / pc);
    }
    println!("{:<34} {pw:>9.3} {pc:>9.3}", "Python (torch + torchvision)");
    Ok(())
}
