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
//! $PY scripts/bench_load.py --runs 9
//! ```
//!
//! Last numbers (resnet50, 102.5 MB, 2-core VM shared with other jobs, load average ~3;
//! medians of 9 fresh processes; memory = peak RSS above the post-libtorch-init baseline):
//!
//! ```text
//! ours eager  (read_pth)                 77-85 ms  1.06x file   torch.load               105-107 ms  1.01x
//! ours mmap   (read_pth, mmap: true)      3.3 ms   0.08x file   torch.load(mmap=True)     45-46 ms   0.01x
//! eager vs torch.load 1.26-1.35x; mmap vs torch.load(mmap=True) 14x; mmap vs torch.load 32x
//! ```
//!
//! The eager read is bound by the kernel: faulting in, zeroing and filling 100 MB of fresh
//! memory (a bare `pread` of the file into fresh anonymous memory takes ~62-66 ms here), plus
//! ~8 ms of CRC-32 checking that torch.load does not do.
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
