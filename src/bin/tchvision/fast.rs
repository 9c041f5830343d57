//! The inference fast path in the CLI (`tchvision::infer`): `--no-optimize` and `--precision`,
//! shared by run, predict and detect, and a runner that uses the fast form or the
//! plain model.

use tch::{Device, Tensor};
use tchvision::infer::{optimize, CpuLayout, InferenceOptions, Optimized, Precision};
use tchvision::nn::Module;

/// `--no-optimize` and `--precision`.
#[derive(Debug, Clone, clap::Args)]
pub struct OptimizeArg {
    /// Run the plain model instead of the frozen, optimised TorchScript form.
    #[arg(long)]
    pub no_optimize: bool,
    /// Number type of the optimised form: fp32, bf16, or fp16 (CUDA only). fp32 on CUDA is
    /// float32 throughout (no TF32), for the plain model too.
    #[arg(long, default_value = "fp32")]
    pub precision: Precision,
    /// How the CPU graph is compiled: auto (time each form when a shape's graph is built, keep
    /// the fastest), onednn (optimize_for_inference), onednn-graph (oneDNN Graph fusion) or
    /// channels-last.
    #[arg(long, default_value = "auto")]
    pub cpu_layout: CpuLayout,
}

impl OptimizeArg {
    /// The options for `device`, refusing a precision other than fp32 with `--no-optimize`.
    pub fn options(&self, device: Device) -> anyhow::Result<Option<InferenceOptions>> {
        if device.is_cuda() && self.precision == Precision::Fp32 {
            tchvision::infer::set_allow_tf32(false);
        }
        if self.no_optimize {
            if self.precision != Precision::Fp32 {
                anyhow::bail!("--precision {} needs the optimised form (drop --no-optimize)", self.precision);
            }
            if self.cpu_layout != CpuLayout::Auto {
                anyhow::bail!("--cpu-layout {} needs the optimised form (drop --no-optimize)", self.cpu_layout);
            }
            return Ok(None);
        }
        Ok(Some(InferenceOptions::default().precision(self.precision).device(device).cpu_layout(self.cpu_layout)))
    }
}

/// The model's forward, through the fast form or the plain model.
pub enum Runner<'m> {
    /// `--no-optimize`.
    Plain(&'m dyn Module),
    /// The optimised form.
    Fast(Optimized<'m>),
}

impl<'m> Runner<'m> {
    /// The runner `arg` asks for.
    pub fn new(model: &'m dyn Module, arg: &OptimizeArg, device: Device) -> anyhow::Result<Self> {
        Ok(match arg.options(device)? {
            None => Runner::Plain(model),
            Some(o) => Runner::Fast(optimize(model, &o)?),
        })
    }

    /// The plain model, saying why on stderr when the optimised form was asked for.
    pub fn plain_for(model: &'m dyn Module, arg: &OptimizeArg, why: &str) -> anyhow::Result<Self> {
        arg.options(Device::Cpu)?;
        if !arg.no_optimize {
            use std::io::Write;
            let note =
                format!("tchvision: note: {why}: running the plain model (the optimised form has no inner nodes)");
            let _ = writeln!(std::io::stderr(), "{note}");
        }
        Ok(Runner::Plain(model))
    }

    /// The model's output (eval mode, no autograd).
    pub fn forward(&self, xs: &Tensor) -> anyhow::Result<Tensor> {
        Ok(match self {
            Runner::Plain(m) => tch::no_grad(|| m.try_forward_t(xs, false))?,
            Runner::Fast(f) => f.forward(xs)?,
        })
    }

    /// Whether this is the optimised form.
    pub fn optimized(&self) -> bool {
        matches!(self, Runner::Fast(_))
    }
}
