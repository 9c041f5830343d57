//! Weight initialisation with the formulas of `torch.nn.init` (`torch/nn/init.py`).
//!
//! Every function works in place under `no_grad`, as torch's trailing-underscore functions do,
//! and draws from libtorch's generator in the same order as torch: after the same
//! `tch::manual_seed`, the same calls give the same numbers as in Python.
//!
//! Gains follow `calculate_gain`'s table (Glorot & Bengio 2010 for Xavier; He et al. 2015,
//! "Delving Deep into Rectifiers", for Kaiming). LeCun initialisation (LeCun et al. 1998,
//! "Efficient BackProp") is not in torch: here it is Kaiming with the linear gain over `fan_in`,
//! i.e. `std = 1/sqrt(fan_in)` (normal) and `bound = sqrt(3/fan_in)` (uniform).
//!
//! ```
//! use tchvision::init::{self, FanMode, Nonlinearity};
//! let mut w = tch::Tensor::empty([64, 3, 7, 7], (tch::Kind::Float, tch::Device::Cpu));
//! init::kaiming_normal_(&mut w, FanMode::FanOut, Nonlinearity::Relu)?;
//! init::xavier_uniform_(&mut w, init::calculate_gain("tanh", None)?)?;
//! # Ok::<(), tchvision::Error>(())
//! ```

use std::cell::Cell;
use std::str::FromStr;
use tch::Tensor;

use crate::error::{Error, Result, TorchResultExt};

/// The nonlinearities of `torch.nn.init.calculate_gain`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlinearity {
    /// `linear`, and the conv/conv-transpose names, which torch maps to gain 1.
    Linear,
    /// `sigmoid`: gain 1.
    Sigmoid,
    /// `tanh`: gain 5/3.
    Tanh,
    /// `relu`: gain √2.
    Relu,
    /// `leaky_relu` with its negative slope: gain √(2/(1+slope²)).
    LeakyRelu(f64),
    /// `selu`: gain 3/4.
    Selu,
}

impl Nonlinearity {
    /// The recommended gain, as `calculate_gain`.
    pub fn gain(&self) -> f64 {
        match *self {
            Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
            Nonlinearity::Tanh => 5.0 / 3.0,
            Nonlinearity::Relu => 2f64.sqrt(),
            Nonlinearity::LeakyRelu(slope) => (2.0 / (1.0 + slope * slope)).sqrt(),
            Nonlinearity::Selu => 3.0 / 4.0,
        }
    }

    /// Parses the names `calculate_gain` accepts, and only those (`identity`, which torch's
    /// docstring lists but its code rejects, is an error as in torch); `param` is leaky_relu's
    /// negative slope (0.01 when `None`).
    pub fn parse(name: &str, param: Option<f64>) -> Result<Self> {
        const NAMES: [&str; 12] = [
            "linear",
            "conv1d",
            "conv2d",
            "conv3d",
            "conv_transpose1d",
            "conv_transpose2d",
            "conv_transpose3d",
            "sigmoid",
            "tanh",
            "relu",
            "leaky_relu",
            "selu",
        ];
        Ok(match name {
            "linear" | "conv1d" | "conv2d" | "conv3d" | "conv_transpose1d" | "conv_transpose2d"
            | "conv_transpose3d" => Nonlinearity::Linear,
            "sigmoid" => Nonlinearity::Sigmoid,
            "tanh" => Nonlinearity::Tanh,
            "relu" => Nonlinearity::Relu,
            "leaky_relu" => {
                let slope = param.unwrap_or(0.01);
                if !slope.is_finite() {
                    return Err(Error::InvalidArgument(format!("negative_slope {slope} is not a valid number")));
                }
                Nonlinearity::LeakyRelu(slope)
            }
            "selu" => Nonlinearity::Selu,
            other => return Err(Error::unknown("nonlinearity", other, &NAMES)),
        })
    }
}

impl FromStr for Nonlinearity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Nonlinearity::parse(s, None)
    }
}

/// `torch.nn.init.calculate_gain(nonlinearity, param)`.
pub fn calculate_gain(nonlinearity: &str, param: Option<f64>) -> Result<f64> {
    Ok(Nonlinearity::parse(nonlinearity, param)?.gain())
}

/// Which fan Kaiming initialisation preserves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    /// Preserve the variance of activations in the forward pass.
    FanIn,
    /// Preserve the variance of gradients in the backward pass.
    FanOut,
}

impl FromStr for FanMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fan_in" => Ok(FanMode::FanIn),
            "fan_out" => Ok(FanMode::FanOut),
            other => Err(Error::unknown("fan mode", other, &["fan_in", "fan_out"])),
        }
    }
}

/// `_calculate_fan_in_and_fan_out`: `(size(1)·rf, size(0)·rf)` with `rf` the product of the
/// remaining dimensions. Needs at least two dimensions.
pub fn fan_in_and_fan_out(t: &Tensor) -> Result<(i64, i64)> {
    let size = t.size();
    if size.len() < 2 {
        return Err(Error::InvalidArgument(format!(
            "fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (shape {size:?})"
        )));
    }
    let rf: i64 = size[2..].iter().product();
    Ok((size[1] * rf, size[0] * rf))
}

fn fan(t: &Tensor, mode: FanMode) -> Result<i64> {
    let (fan_in, fan_out) = fan_in_and_fan_out(t)?;
    Ok(match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
    })
}

thread_local! {
    static SKIP: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (typically building a model) with every initialiser of this module turned into a
/// no-op on this thread: the parameters keep the uninitialised memory they were allocated with,
/// as `torch.nn.utils.skip_init` (or building on the meta device and `to_empty`) leaves them.
/// For models that receive a whole state dict right after (a strict load overwrites every
/// parameter and buffer); anything else would run on garbage. Arguments are still checked.
///
/// ```
/// use tch::{nn, Device};
/// use tchvision::{models::api::Options, registry::create_model};
/// let vs = nn::VarStore::new(Device::Cpu);
/// let m = tchvision::init::skip_init(|| create_model("resnet18", &vs.root(), &Options::default()))?;
/// // … then load a checkpoint strictly into `m`.
/// # Ok::<(), tchvision::Error>(())
/// ```
pub fn skip_init<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SKIP.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SKIP.with(|s| s.replace(true)));
    f()
}

/// Whether [`skip_init`] is in effect on this thread.
pub fn is_skipping_init() -> bool {
    SKIP.with(Cell::get)
}

fn check_float(t: &Tensor, what: &str) -> Result<()> {
    if !t.is_floating_point() {
        return Err(Error::InvalidArgument(format!("{what} needs a floating-point tensor, got {:?}", t.kind())));
    }
    Ok(())
}

/// `normal_(t, mean, std)`.
pub fn normal_(t: &mut Tensor, mean: f64, std: f64) -> Result<()> {
    check_float(t, "normal_")?;
    if is_skipping_init() {
        return Ok(());
    }
    let _g = tch::no_grad_guard();
    let _ = t.f_normal_(mean, std).ctx("normal_")?;
    Ok(())
}

/// `uniform_(t, a, b)`.
pub fn uniform_(t: &mut Tensor, a: f64, b: f64) -> Result<()> {
    check_float(t, "uniform_")?;
    if is_skipping_init() {
        return Ok(());
    }
    let _g = tch::no_grad_guard();
    let _ = t.f_uniform_(a, b).ctx("uniform_")?;
    Ok(())
}

/// `constant_(t, value)`.
pub fn constant_(t: &mut Tensor, value: f64) -> Result<()> {
    if is_skipping_init() {
        return Ok(());
    }
    let _g = tch::no_grad_guard();
    let _ = t.f_fill_(value).ctx("constant_")?;
    Ok(())
}

/// `zeros_(t)`.
pub fn zeros_(t: &mut Tensor) -> Result<()> {
    constant_(t, 0.0)
}

/// `ones_(t)`.
pub fn ones_(t: &mut Tensor) -> Result<()> {
    constant_(t, 1.0)
}

/// `xavier_uniform_(t, gain)`: U(−a, a) with a = gain·√(6/(fan_in+fan_out)).
pub fn xavier_uniform_(t: &mut Tensor, gain: f64) -> Result<()> {
    let (fan_in, fan_out) = fan_in_and_fan_out(t)?;
    let std = gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
    let a = 3f64.sqrt() * std;
    uniform_(t, -a, a)
}

/// `xavier_normal_(t, gain)`: N(0, std²) with std = gain·√(2/(fan_in+fan_out)).
pub fn xavier_normal_(t: &mut Tensor, gain: f64) -> Result<()> {
    let (fan_in, fan_out) = fan_in_and_fan_out(t)?;
    let std = gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
    normal_(t, 0.0, std)
}

/// `kaiming_uniform_(t, a, mode, nonlinearity)`: U(−b, b) with b = gain·√(3/fan). For
/// `leaky_relu`, pass [`Nonlinearity::LeakyRelu`]`(a)`. A tensor with a zero dimension is left as
/// it is (torch warns and returns).
pub fn kaiming_uniform_(t: &mut Tensor, mode: FanMode, nonlinearity: Nonlinearity) -> Result<()> {
    if t.size().contains(&0) {
        return Ok(());
    }
    let fan = fan(t, mode)?;
    let std = nonlinearity.gain() / (fan as f64).sqrt();
    let bound = 3f64.sqrt() * std;
    uniform_(t, -bound, bound)
}

/// `kaiming_normal_(t, a, mode, nonlinearity)`: N(0, std²) with std = gain/√fan.
pub fn kaiming_normal_(t: &mut Tensor, mode: FanMode, nonlinearity: Nonlinearity) -> Result<()> {
    if t.size().contains(&0) {
        return Ok(());
    }
    let fan = fan(t, mode)?;
    let std = nonlinearity.gain() / (fan as f64).sqrt();
    normal_(t, 0.0, std)
}

/// LeCun normal: N(0, 1/fan_in).
pub fn lecun_normal_(t: &mut Tensor) -> Result<()> {
    kaiming_normal_(t, FanMode::FanIn, Nonlinearity::Linear)
}

/// LeCun uniform: U(−√(3/fan_in), √(3/fan_in)).
pub fn lecun_uniform_(t: &mut Tensor) -> Result<()> {
    kaiming_uniform_(t, FanMode::FanIn, Nonlinearity::Linear)
}

/// `trunc_normal_(t, mean, std, a, b)`: a normal truncated to [a, b], drawn by inverse CDF as
/// torch does.
pub fn trunc_normal_(t: &mut Tensor, mean: f64, std: f64, a: f64, b: f64) -> Result<()> {
    check_float(t, "trunc_normal_")?;
    let valid = a < b && std > 0.0; // false for NaN too
    if !valid {
        return Err(Error::InvalidArgument(format!("trunc_normal_ needs a < b and std > 0 (a={a}, b={b}, std={std})")));
    }
    if is_skipping_init() {
        return Ok(());
    }
    let norm_cdf = |x: f64| (1.0 + erf(x / 2f64.sqrt())) / 2.0;
    let l = norm_cdf((a - mean) / std);
    let u = norm_cdf((b - mean) / std);
    let _g = tch::no_grad_guard();
    let _ = t.f_uniform_(2.0 * l - 1.0, 2.0 * u - 1.0).ctx("trunc_normal_")?;
    let _ = t.f_erfinv_().ctx("trunc_normal_")?;
    let _ = t.f_mul_(&Tensor::from(std * 2f64.sqrt())).ctx("trunc_normal_")?;
    let _ = t.f_add_(&Tensor::from(mean)).ctx("trunc_normal_")?;
    let _ = t.f_clamp_(a, b).ctx("trunc_normal_")?;
    Ok(())
}

/// `orthogonal_(t, gain)`: a (semi-)orthogonal matrix from the QR decomposition of a normal
/// matrix, signs fixed by R's diagonal, as torch (Saxe et al. 2013).
pub fn orthogonal_(t: &mut Tensor, gain: f64) -> Result<()> {
    let size = t.size();
    if size.len() < 2 {
        return Err(Error::InvalidArgument(format!(
            "only tensors with 2 or more dimensions are supported (shape {size:?})"
        )));
    }
    check_float(t, "orthogonal_")?;
    if t.numel() == 0 || is_skipping_init() {
        return Ok(());
    }
    let _g = tch::no_grad_guard();
    let rows = size[0];
    let cols = t.numel() as i64 / rows;
    let mut flat = Tensor::f_empty([rows, cols], (t.kind(), t.device())).ctx("orthogonal_")?;
    let _ = flat.f_normal_(0.0, 1.0).ctx("orthogonal_")?;
    if rows < cols {
        flat = flat.f_t_().ctx("orthogonal_")?;
    }
    let (q, r) = Tensor::f_linalg_qr(&flat, "reduced").ctx("orthogonal_")?;
    let d = r.f_diag(0).ctx("orthogonal_")?;
    let ph = d.f_sign().ctx("orthogonal_")?;
    let mut q = q.f_mul(&ph).ctx("orthogonal_")?;
    if rows < cols {
        q = q.f_t_().ctx("orthogonal_")?;
    }
    t.f_view_as(&q).ctx("orthogonal_")?.f_copy_(&q).ctx("orthogonal_")?;
    let _ = t.f_mul_(&Tensor::from(gain)).ctx("orthogonal_")?;
    Ok(())
}

/// The error function in double precision, computed by libtorch (torch uses Python's
/// `math.erf`; both agree to a few ulps, far below what a float32 tensor resolves).
fn erf(x: f64) -> f64 {
    Tensor::from(x).erf().double_value(&[])
}

pub mod recipes;
