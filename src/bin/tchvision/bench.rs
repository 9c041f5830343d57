//! `tchvision bench ARCH [--weights W] [--batch N] [--input-size H,W] [--iters N] [--warmup N]
//! [--precision P] [--cpu-layout L] [--no-optimize] [--device D] [--threads N] [--json]`: timed
//! forward passes on random input, in the manner of TensorRT's `trtexec` and OpenVINO's
//! `benchmark_app`. Prints the median, min and max latency and images per second (batch /
//! median); `--json` prints one object with `arch`, `batch`, `input_size`, `precision`,
//! `device`, `optimized`, `cpu_layout`, `threads`, `median_ms`, `min_ms`, `max_ms`,
//! `images_per_s`.
//!
//! The optimised form is built (traced and frozen) before the warm-up; warm-up passes are not
//! timed. On CUDA each pass is synchronised before its time is taken.

use std::time::Instant;

use serde::Serialize;
use tch::{Device, Kind, Tensor};
use tchvision::infer::CpuLayout;
use tchvision::registry::model_info;

use crate::common::{build_loaded, print_json, DeviceArg, OptionArgs, WeightsArg};
use crate::fast::{OptimizeArg, Runner};

/// Arguments of `tchvision bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The architecture (see `tchvision list`).
    pub arch: String,
    #[command(flatten)]
    pub weights: WeightsArg,
    /// Images per forward pass.
    #[arg(long, default_value_t = 1)]
    pub batch: i64,
    /// Input height and width (default: the model's).
    #[arg(long, value_delimiter = ',', value_name = "H,W")]
    pub input_size: Option<Vec<i64>>,
    /// Timed forward passes.
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
    /// Untimed forward passes first.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    #[command(flatten)]
    pub optimize: OptimizeArg,
    #[command(flatten)]
    pub device: DeviceArg,
    /// Intra-op threads (default: libtorch's choice).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// What `tchvision bench --json` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The architecture.
    pub arch: String,
    /// Images per pass.
    pub batch: i64,
    /// `[H, W]`.
    pub input_size: [i64; 2],
    /// fp32, bf16 or fp16.
    pub precision: String,
    /// cpu or cuda:N.
    pub device: String,
    /// Whether the optimised form ran.
    pub optimized: bool,
    /// On the CPU, the form the optimised graph was compiled as (`--cpu-layout auto`'s choice);
    /// null for the plain model and on CUDA.
    pub cpu_layout: Option<CpuLayout>,
    /// libtorch's intra-op threads.
    pub threads: i32,
    /// Median latency of one pass, milliseconds.
    pub median_ms: f64,
    /// Fastest pass.
    pub min_ms: f64,
    /// Slowest pass.
    pub max_ms: f64,
    /// `batch / median`.
    pub images_per_s: f64,
}

fn device_name(d: Device) -> String {
    match d {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".into(),
    }
}

/// Runs `tchvision bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.batch < 1 {
        anyhow::bail!("--batch must be at least 1, got {}", args.batch);
    }
    if args.iters < 1 {
        anyhow::bail!("--iters must be at least 1");
    }
    if let Some(t) = args.threads {
        if t < 1 {
            anyhow::bail!("--threads must be at least 1, got {t}");
        }
        tch::set_num_threads(t);
    }
    let device = args.device.get()?;
    let info = model_info(&args.arch)?;
    let [h, w] = match args.input_size.as_deref() {
        Some([h, w]) if *h > 0 && *w > 0 => [*h, *w],
        Some(other) => anyhow::bail!("--input-size needs H,W (two positive numbers), got {other:?}"),
        None => info.default_input,
    };
    let no_options = OptionArgs { num_classes: None, option: Vec::new() };
    let (built, _) = build_loaded(&args.arch, &no_options, &args.weights, device)?;
    let model = built.model.as_ref();
    tchvision::nn::ModuleExt::eval(model);
    let runner = Runner::new(model.as_dyn_module(), &args.optimize, device)?;
    let x = Tensor::f_randn([args.batch, 3, h, w], (Kind::Float, device))?;
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    if let Runner::Fast(f) = &runner {
        f.prepare(&x.size())?;
        for note in f.notes() {
            eprintln!("tchvision: note: {note}");
        }
    }
    for _ in 0..args.warmup {
        let _ = runner.forward(&x)?;
    }
    sync();
    let mut times = Vec::with_capacity(args.iters);
    for _ in 0..args.iters {
        let t = Instant::now();
        let y = runner.forward(&x)?;
        sync();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        drop(y);
    }
    times.sort_by(f64::total_cmp);
    let n = times.len();
    let median = if n % 2 == 1 { times[n / 2] } else { (times[n / 2 - 1] + times[n / 2]) / 2.0 };
    let report = Report {
        arch: args.arch.clone(),
        batch: args.batch,
        input_size: [h, w],
        precision: args.optimize.precision.to_string(),
        device: device_name(device),
        optimized: runner.optimized(),
        cpu_layout: match &runner {
            Runner::Fast(f) => f.cpu_layout(&x.size()),
            Runner::Plain(_) => None,
        },
        threads: tch::get_num_threads(),
        median_ms: median,
        min_ms: times[0],
        max_ms: times[n - 1],
        images_per_s: args.batch as f64 / (median / 1e3),
    };
    if args.json {
        return print_json(&report);
    }
    let form = match (report.optimized, report.cpu_layout) {
        (false, _) => " plain".to_string(),
        (true, Some(l)) => format!(" optimized ({l})"),
        (true, None) => " optimized".to_string(),
    };
    println!(
        "{} batch {} {}x{} {} {}{} threads {}",
        report.arch, report.batch, h, w, report.device, report.precision, form, report.threads
    );
    println!(
        "latency: median {:.2} ms, min {:.2} ms, max {:.2} ms over {} passes ({} warm-up)",
        report.median_ms, report.min_ms, report.max_ms, n, args.warmup
    );
    println!("throughput: {:.1} images/s", report.images_per_s);
    Ok(())
}
