//! Benchmark probe: reads one checkpoint into tensors with tchvision and prints one JSON line
//! `{"seconds", "base_kb", "peak_kb", "tensors", "bytes"}`: the wall time of the read, and the
//! resident memory before it and at its peak (VmHWM, reset just before the read through
//! `/proc/self/clear_refs`), so `peak_kb - base_kb` is the memory the read needed.
//!
//! One read per process, so every run starts from the same memory state. The driver,
//! `scripts/bench_load.py`, makes the file (torchvision's resnet50 state dict), runs this and
//! `torch.load` alternately in fresh processes with the page cache warm, and prints medians:
//!
//! ```text
//! cargo build --release --example bench_load
//! $PY scripts/bench_load.py
//! ```
//!
//! Direct use: `bench_load FILE [pth|pth-mmap|safetensors|safetensors-mapped]` (default: by
//! extension). `pth-mmap` is `read_pth` with `ReadOptions::mmap` (lazy, as `torch.load(mmap=True)`).

use std::time::Instant;

use anyhow::{bail, Context, Result};
use tchvision::checkpoint::{read_pth, safetensors, ReadOptions};

/// `VmRSS` or `VmHWM` of this process, in kB.
fn status_kb(field: &str) -> Result<u64> {
    let s = std::fs::read_to_string("/proc/self/status")?;
    let line = s.lines().find(|l| l.starts_with(field)).with_context(|| format!("no {field} in /proc/self/status"))?;
    Ok(line.split_whitespace().nth(1).context("malformed status line")?.parse()?)
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(file) = args.next() else { bail!("usage: bench_load FILE [pth|pth-mmap|safetensors|safetensors-mapped]") };
    let kind = args.next().unwrap_or_else(|| if file.ends_with(".safetensors") { "safetensors" } else { "pth" }.into());
    let opts = ReadOptions::default();
    // Start libtorch (its allocator, thread pools) before measuring, as `import torch` does.
    drop(tch::Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu)));
    // Reset the peak resident set size to the current one.
    std::fs::write("/proc/self/clear_refs", "5").context("resetting VmHWM")?;
    let base_kb = status_kb("VmRSS:")?;
    let t0 = Instant::now();
    let ck = match kind.as_str() {
        "pth" => read_pth(std::path::Path::new(&file), &opts)?,
        "pth-mmap" => read_pth(std::path::Path::new(&file), &opts.clone().mmap(true))?,
        "safetensors" => safetensors::read(&file, &opts)?,
        "safetensors-mapped" => safetensors::read_mapped(&file, &opts)?,
        k => bail!("unknown format {k}"),
    };
    let seconds = t0.elapsed().as_secs_f64();
    let peak_kb = status_kb("VmHWM:")?;
    let bytes: u64 = ck.tensors.iter().map(|(_, t)| t.numel() as u64 * t.kind().elt_size_in_bytes() as u64).sum();
    println!(
        "{}",
        serde_json::json!({"seconds": seconds, "base_kb": base_kb, "peak_kb": peak_kb,
                           "tensors": ck.tensors.len(), "bytes": bytes})
    );
    Ok(())
}
