//! `tchvision::init` against `torch.nn.init`: the gain table against torch's `calculate_gain`
//! (fixture), every function against its formula on large tensors (mean, std, bounds; the
//! truncated normal's moments from the closed form), the exact numbers torch draws after the same
//! seed (libtorch's CPU generator is shared, so they must be bit-identical), the layers' default
//! initialisation (`reset_parameters`), and the tutorial's three recipes.

mod common;

use common::{json, tensors};
use std::collections::HashMap;
use tch::{nn::Path, nn::VarStore, Device, Kind, Tensor};
use tchvision::init::{self, recipes, FanMode, Nonlinearity};
use tchvision::models::seed::Yolo_v1;
use tchvision::nn::*;
use tchvision::Error;

extern "C" {
    /// The C library's error function (libm is linked into every Rust binary on Linux).
    fn erf(x: f64) -> f64;
}

fn empty(shape: &[i64]) -> Tensor {
    Tensor::empty(shape, (Kind::Float, Device::Cpu))
}

/// Sample statistics in double precision (on at most ~2M evenly strided elements).
#[derive(Debug)]
struct Stats {
    n: f64,
    mean: f64,
    std: f64,
    min: f64,
    max: f64,
}

fn stats(t: &Tensor) -> Stats {
    let flat = t.reshape([-1]);
    let n = flat.numel() as i64;
    let step = (n / 2_000_000).max(1);
    let s = flat.slice(0, 0, n, step).to_kind(Kind::Double);
    Stats {
        n: s.numel() as f64,
        mean: s.mean(Kind::Double).double_value(&[]),
        std: s.std(true).double_value(&[]),
        min: s.min().double_value(&[]),
        max: s.max().double_value(&[]),
    }
}

/// Mean and standard deviation within 6 standard errors of the formula's.
#[track_caller]
fn assert_moments(what: &str, s: &Stats, mean: f64, std: f64) {
    let tol_mean = 6.0 * std / s.n.sqrt();
    assert!((s.mean - mean).abs() <= tol_mean, "{what}: mean {} vs {mean} (tol {tol_mean}); {s:?}", s.mean);
    let tol_std = 6.0 / (2.0 * s.n).sqrt();
    assert!((s.std / std - 1.0).abs() <= tol_std, "{what}: std {} vs {std} (rel tol {tol_std}); {s:?}", s.std);
}

/// U(−b, b): hard bounds, reached to within a few spacings, and the moments of the uniform.
#[track_caller]
fn assert_uniform(what: &str, t: &Tensor, lo: f64, hi: f64) {
    let s = stats(t);
    let (lo32, hi32) = (lo as f32 as f64, hi as f32 as f64);
    assert!(s.min >= lo32 && s.max <= hi32, "{what}: values outside [{lo}, {hi}]: {s:?}");
    let slack = 20.0 * (hi - lo) / s.n;
    assert!(s.min - lo <= slack && hi - s.max <= slack, "{what}: bounds not reached: {s:?} vs [{lo}, {hi}]");
    assert_moments(what, &s, (lo + hi) / 2.0, (hi - lo) / 12f64.sqrt());
}

#[track_caller]
fn assert_normal(what: &str, t: &Tensor, mean: f64, std: f64) {
    let s = stats(t);
    assert_moments(what, &s, mean, std);
    // A normal sample of this size reaches beyond 4σ on both sides.
    assert!(s.max > mean + 4.0 * std && s.min < mean - 4.0 * std, "{what}: tails too short for a normal: {s:?}");
}

#[track_caller]
fn assert_all(what: &str, t: &Tensor, v: f64) {
    let want = Tensor::full(t.size(), v, (t.kind(), t.device()));
    assert!(t.equal(&want), "{what}: not all {v}");
}

/// torch's gain table (from the fixture): name and param -> gain.
fn torch_gain(name: &str, param: Option<f64>) -> f64 {
    let g = json("layers/init.json");
    for e in g["gains"].as_array().unwrap() {
        if e["name"] == name && e["param"].as_f64() == param {
            return e["gain"].as_f64().unwrap_or_else(|| panic!("torch raised for {name}"));
        }
    }
    panic!("no torch gain for {name} {param:?}")
}

// ----------------------------------------------------------------------------------------------
// The gain table.

#[test]
fn calculate_gain_equals_torch() {
    let _rng = common::serial();
    let g = json("layers/init.json");
    let mut covered = Vec::new();
    for e in g["gains"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        let param = e["param"].as_f64();
        covered.push(format!("{name} {param:?}"));
        let ours = init::calculate_gain(name, param);
        match e["gain"].as_f64() {
            Some(want) => {
                let ours = ours.unwrap_or_else(|err| panic!("{name}: torch gives {want}, we fail: {err}"));
                assert!((ours - want).abs() <= 1e-15 * want.abs(), "{name} {param:?}: {ours} vs torch {want}");
            }
            None => {
                let err = ours.expect_err(&format!("torch raises for {name} ({}), we do not", e["error"]));
                assert!(matches!(err, Error::Unknown { .. }), "{name}: {err:?}");
                assert!(err.to_string().contains(name), "{err}");
            }
        }
    }
    let names = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"];
    let mut expected: Vec<String> = names.iter().map(|n| format!("{n} None")).collect();
    for n in ["sigmoid", "tanh", "relu", "leaky_relu", "selu", "identity", "softmax", "Relu"] {
        expected.push(format!("{n} None"));
    }
    for p in [0.2, 0.0, 5f64.sqrt()] {
        expected.push(format!("leaky_relu {:?}", Some(p)));
    }
    common::assert_covered("calculate_gain cases", &covered, &expected);
}

#[test]
fn unknown_names_are_errors() {
    let _rng = common::serial();
    for name in ["softplus", "gelu", "ReLU", "", "identity"] {
        assert!(init::calculate_gain(name, None).is_err(), "{name}");
        assert!(Nonlinearity::parse(name, None).is_err(), "{name}");
    }
    assert!("fan_avg".parse::<FanMode>().is_err());
    assert_eq!("fan_in".parse::<FanMode>().unwrap(), FanMode::FanIn);
    assert_eq!("fan_out".parse::<FanMode>().unwrap(), FanMode::FanOut);
    assert!(init::calculate_gain("leaky_relu", Some(f64::NAN)).is_err());
}

#[test]
fn fans_follow_torch_formula() {
    let _rng = common::serial();
    assert_eq!(init::fan_in_and_fan_out(&empty(&[64, 3, 7, 5])).unwrap(), (3 * 35, 64 * 35));
    assert_eq!(init::fan_in_and_fan_out(&empty(&[10, 20])).unwrap(), (20, 10));
    assert_eq!(init::fan_in_and_fan_out(&empty(&[4, 6, 2, 3, 5])).unwrap(), (6 * 30, 4 * 30));
    assert!(init::fan_in_and_fan_out(&empty(&[10])).is_err());
    let mut t = empty(&[5]);
    assert!(init::xavier_uniform_(&mut t, 1.0).is_err());
    assert!(init::kaiming_normal_(&mut t, FanMode::FanIn, Nonlinearity::Relu).is_err());
    assert!(init::orthogonal_(&mut t, 1.0).is_err());
    // Zero-element tensors: kaiming is a no-op, as in torch.
    let mut z = empty(&[0, 3]);
    init::kaiming_uniform_(&mut z, FanMode::FanIn, Nonlinearity::Relu).unwrap();
    // Integer tensors cannot be drawn into.
    let mut i = Tensor::zeros([4, 4], (Kind::Int64, Device::Cpu));
    assert!(init::normal_(&mut i, 0.0, 1.0).is_err());
    assert!(init::trunc_normal_(&mut empty(&[4]), 0.0, 1.0, 1.0, -1.0).is_err());
}

// ----------------------------------------------------------------------------------------------
// Exactly torch's numbers after the same seed.

/// Every torch.nn.init run of the fixture, by key (the twins in `run_ours`).
const RUNS: [&str; 18] = [
    "normal",
    "uniform",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform_default",
    "kaiming_uniform_leaky_fan_out",
    "kaiming_normal_relu_fan_out",
    "kaiming_normal_selu",
    "lecun_normal",
    "lecun_uniform",
    "trunc_normal",
    "trunc_normal_default",
    "orthogonal_wide",
    "orthogonal_tall",
    "orthogonal_conv",
    "constant",
    "zeros",
    "ones",
];

fn run_ours(key: &str, t: &mut Tensor) -> tchvision::Result<()> {
    match key {
        "normal" => init::normal_(t, 0.5, 2.0),
        "uniform" => init::uniform_(t, -0.3, 0.7),
        "xavier_uniform" => init::xavier_uniform_(t, init::calculate_gain("tanh", None)?),
        "xavier_normal" => init::xavier_normal_(t, 2.0),
        "kaiming_uniform_default" => init::kaiming_uniform_(t, FanMode::FanIn, Nonlinearity::LeakyRelu(0.0)),
        "kaiming_uniform_leaky_fan_out" => {
            init::kaiming_uniform_(t, FanMode::FanOut, Nonlinearity::parse("leaky_relu", Some(0.2))?)
        }
        "kaiming_normal_relu_fan_out" => init::kaiming_normal_(t, FanMode::FanOut, "relu".parse()?),
        "kaiming_normal_selu" => init::kaiming_normal_(t, FanMode::FanIn, Nonlinearity::Selu),
        "lecun_normal" => init::lecun_normal_(t),
        "lecun_uniform" => init::lecun_uniform_(t),
        "trunc_normal" => init::trunc_normal_(t, 0.1, 0.5, -0.4, 0.9),
        "trunc_normal_default" => init::trunc_normal_(t, 0.0, 1.0, -2.0, 2.0),
        "orthogonal_wide" => init::orthogonal_(t, 1.0),
        "orthogonal_tall" => init::orthogonal_(t, 1.5),
        "orthogonal_conv" => init::orthogonal_(t, 0.5),
        "constant" => init::constant_(t, 0.25),
        "zeros" => init::zeros_(t),
        "ones" => init::ones_(t),
        other => panic!("no Rust twin for torch run {other}"),
    }
}

#[test]
fn same_seed_same_numbers_as_torch_nn_init() {
    let _rng = common::serial();
    let g = json("layers/init.json");
    let t = tensors("layers/init.safetensors");
    let mut mismatched = Vec::new();
    let mut covered = Vec::new();
    for r in g["runs"].as_array().unwrap() {
        let key = r["key"].as_str().unwrap();
        covered.push(key);
        let shape: Vec<i64> = r["shape"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        tch::manual_seed(r["seed"].as_i64().unwrap());
        let mut x = empty(&shape);
        run_ours(key, &mut x).unwrap();
        let want = &t[key];
        assert_eq!(x.size(), want.size(), "{key}");
        if !x.equal(want) {
            let d = (&x - want).abs().max().double_value(&[]);
            mismatched.push(format!("{key} (max |diff| {d:e})"));
        }
    }
    common::assert_covered("torch.nn.init runs", covered, RUNS);
    assert!(mismatched.is_empty(), "not bit-identical to torch.nn.init after the same seed: {mismatched:?}");
}

#[test]
fn default_init_draws_like_torch_after_the_same_seed() {
    let _rng = common::serial();
    let g = json("layers/init.json");
    let t = tensors("layers/init.safetensors");
    let mut covered = Vec::new();
    for d in g["defaults"].as_array().unwrap() {
        let key = d["key"].as_str().unwrap();
        covered.push(key);
        let vs = VarStore::new(Device::Cpu);
        let p = vs.root();
        tch::manual_seed(d["seed"].as_i64().unwrap());
        let cfg = Conv2dConfig::default;
        let m: Box<dyn Module> = match key {
            "conv_3_8_3" => Box::new(Conv2d::new(&p, 3, 8, 3, cfg()).unwrap()),
            "conv_groups" => Box::new(Conv2d::new(&p, 4, 6, [3, 2], cfg().groups(2)).unwrap()),
            "conv_nobias" => Box::new(Conv2d::new(&p, 5, 7, 1, cfg().bias(false)).unwrap()),
            "linear_20_7" => Box::new(Linear::new(&p, 20, 7).unwrap()),
            "linear_nobias" => Box::new(Linear::with_bias(&p, 9, 4, false).unwrap()),
            "bn" => Box::new(BatchNorm2d::new(&p, 5, Default::default()).unwrap()),
            "prelu" => Box::new(PReLU::new(&p, 3, 0.25).unwrap()),
            other => panic!("no Rust twin for {other}"),
        };
        let sd = m.state_dict();
        let n_torch = t.keys().filter(|k| k.starts_with(&format!("{key}/"))).count();
        assert_eq!(sd.len(), n_torch, "{key}: state dict size");
        for (k, v) in sd {
            let want = &t[&format!("{key}/{k}")];
            assert_eq!(v.kind(), want.kind(), "{key}.{k}");
            assert!(v.equal(want), "{key}.{k}: not bit-identical to {} after the same seed", d["repr"]);
        }
    }
    common::assert_covered(
        "default initialisations",
        covered,
        ["conv_3_8_3", "conv_groups", "conv_nobias", "linear_20_7", "linear_nobias", "bn", "prelu"],
    );
}

/// The fixture's small networks, built as scripts/fixtures_layers.py builds them.
fn small_net(p: &Path) -> Sequential {
    Sequential::builder(p.clone())
        .add(|p| Conv2d::new(p, 3, 8, 3, Conv2dConfig::default().padding(1)))
        .unwrap()
        .add(|p| BatchNorm2d::new(p, 8, Default::default()))
        .unwrap()
        .add(ReLU::new)
        .unwrap()
        .add(|p| {
            Ok(Sequential::builder(p.clone())
                .add(|p| Conv2d::new(p, 8, 6, 1, Conv2dConfig::default().bias(false)))?
                .add(|p| GroupNorm::new(p, 2, 6))?
                .build())
        })
        .unwrap()
        .add(Flatten::new)
        .unwrap()
        .add(|p| Linear::new(p, 6, 4))
        .unwrap()
        .build()
}

fn conv_layer1(p: Path) -> Sequential {
    Sequential::builder(p)
        .add(|p| Conv2d::new(p, 3, 64, 7, Conv2dConfig::default().padding(3)))
        .unwrap()
        .add(|p| BatchNorm2d::new(p, 64, Default::default()))
        .unwrap()
        .add(|p| LeakyReLU::new(p, 0.1))
        .unwrap()
        .add(|p| MaxPool2d::new(p, 2, PoolConfig::default().stride(2)))
        .unwrap()
        .build()
}

#[test]
fn recipes_draw_like_torch_after_the_same_seed() {
    let _rng = common::serial();
    let g = json("layers/init.json");
    let t = tensors("layers/init.safetensors");
    let mut covered = Vec::new();
    for r in g["recipes"].as_array().unwrap() {
        let key = r["key"].as_str().unwrap();
        covered.push(key);
        let vs = VarStore::new(Device::Cpu);
        tch::manual_seed(r["seed"].as_i64().unwrap());
        let net = if key.ends_with("conv_layer1") { conv_layer1(vs.root()) } else { small_net(&vs.root()) };
        let keys: Vec<serde_json::Value> =
            net.state_dict().iter().map(|(k, v)| serde_json::json!([k, v.size()])).collect();
        let torch_keys: Vec<serde_json::Value> =
            r["structure"]["state_dict"].as_array().unwrap().iter().map(|e| serde_json::json!([e[0], e[1]])).collect();
        assert_eq!(keys, torch_keys, "{key}: state dict");
        for (k, v) in net.state_dict() {
            assert!(v.equal(&t[&format!("{key}/before/{k}")]), "{key}: {k} before the recipe (default init)");
        }
        tch::manual_seed(r["recipe_seed"].as_i64().unwrap());
        match key {
            "initialize_weights" => recipes::initialize_weights(&net),
            "kaiming_fan_out" => recipes::kaiming_fan_out(&net),
            "weights_init_kaiming_conv_layer1" | "weights_init_kaiming_small" => recipes::weights_init_kaiming(&net),
            "weights_init_classifier_small" => recipes::weights_init_classifier(&net),
            other => panic!("no Rust twin for recipe {other}"),
        }
        .unwrap();
        for (k, v) in net.state_dict() {
            assert!(v.equal(&t[&format!("{key}/after/{k}")]), "{key}: {k} after the recipe differs from torch's");
        }
    }
    common::assert_covered(
        "init recipes",
        covered,
        [
            "initialize_weights",
            "kaiming_fan_out",
            "weights_init_kaiming_conv_layer1",
            "weights_init_kaiming_small",
            "weights_init_classifier_small",
        ],
    );
}

// ----------------------------------------------------------------------------------------------
// Each function against its formula, on large tensors.

const BIG_SHAPE: [i64; 4] = [512, 256, 3, 3]; // fan_in 2304, fan_out 4608, 1.18M elements

#[test]
fn normal_uniform_constant_follow_their_formulas() {
    let _rng = common::serial();
    tch::manual_seed(7);
    let mut t = empty(&BIG_SHAPE);
    init::normal_(&mut t, 0.5, 2.0).unwrap();
    assert_normal("normal_(0.5, 2)", &t, 0.5, 2.0);
    init::uniform_(&mut t, -0.3, 0.7).unwrap();
    assert_uniform("uniform_(-0.3, 0.7)", &t, -0.3, 0.7);
    init::constant_(&mut t, -1.25).unwrap();
    assert_all("constant_", &t, -1.25);
    init::zeros_(&mut t).unwrap();
    assert_all("zeros_", &t, 0.0);
    init::ones_(&mut t).unwrap();
    assert_all("ones_", &t, 1.0);
    // In place on a parameter that requires grad (init functions run under no_grad).
    let vs = VarStore::new(Device::Cpu);
    let lin = Linear::new(&vs.root(), 3, 2).unwrap();
    let mut w = lin.parameter("weight").unwrap();
    assert!(w.requires_grad());
    init::constant_(&mut w, 3.0).unwrap();
    assert_all("constant_ on a parameter", &lin.weight, 3.0);
}

#[test]
fn xavier_follows_its_formula() {
    let _rng = common::serial();
    let (fan_in, fan_out): (f64, f64) = (256.0 * 9.0, 512.0 * 9.0);
    tch::manual_seed(8);
    let mut t = empty(&BIG_SHAPE);
    for gain in [1.0, torch_gain("tanh", None), torch_gain("relu", None)] {
        init::xavier_uniform_(&mut t, gain).unwrap();
        let a = gain * (6.0 / (fan_in + fan_out)).sqrt();
        assert_uniform(&format!("xavier_uniform_(gain {gain})"), &t, -a, a);
        init::xavier_normal_(&mut t, gain).unwrap();
        assert_normal(&format!("xavier_normal_(gain {gain})"), &t, 0.0, gain * (2.0 / (fan_in + fan_out)).sqrt());
    }
}

#[test]
fn kaiming_follows_its_formula_for_every_nonlinearity() {
    let _rng = common::serial();
    let (fan_in, fan_out): (f64, f64) = (256.0 * 9.0, 512.0 * 9.0);
    tch::manual_seed(9);
    let mut t = empty(&BIG_SHAPE);
    let cases: [(&str, Option<f64>); 7] = [
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", Some(0.2)),
        ("leaky_relu", Some(5f64.sqrt())),
        ("tanh", None),
        ("selu", None),
        ("linear", None),
    ];
    for (name, param) in cases {
        let gain = torch_gain(name, param);
        let nl = Nonlinearity::parse(name, param).unwrap();
        for (mode, fan) in [(FanMode::FanIn, fan_in), (FanMode::FanOut, fan_out)] {
            let what = format!("kaiming {name} {param:?} {mode:?}");
            init::kaiming_uniform_(&mut t, mode, nl).unwrap();
            let bound = gain * (3.0 / fan).sqrt();
            assert_uniform(&format!("{what} uniform"), &t, -bound, bound);
            init::kaiming_normal_(&mut t, mode, nl).unwrap();
            assert_normal(&format!("{what} normal"), &t, 0.0, gain / f64::sqrt(fan));
        }
    }
}

#[test]
fn lecun_follows_its_formula() {
    let _rng = common::serial();
    let fan_in: f64 = 256.0 * 9.0;
    tch::manual_seed(10);
    let mut t = empty(&BIG_SHAPE);
    init::lecun_normal_(&mut t).unwrap();
    assert_normal("lecun_normal_", &t, 0.0, 1.0 / f64::sqrt(fan_in));
    init::lecun_uniform_(&mut t).unwrap();
    let b = (3.0 / fan_in).sqrt();
    assert_uniform("lecun_uniform_", &t, -b, b);
}

/// Mean and standard deviation of N(μ, σ²) truncated to [a, b] (the closed form).
fn truncated_moments(mu: f64, sigma: f64, a: f64, b: f64) -> (f64, f64) {
    let phi = |x: f64| (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let cdf = |x: f64| (1.0 + unsafe { erf(x / 2f64.sqrt()) }) / 2.0;
    let (al, be) = ((a - mu) / sigma, (b - mu) / sigma);
    let z = cdf(be) - cdf(al);
    let mean = mu + sigma * (phi(al) - phi(be)) / z;
    let var = sigma * sigma * (1.0 + (al * phi(al) - be * phi(be)) / z - ((phi(al) - phi(be)) / z).powi(2));
    (mean, var.sqrt())
}

#[test]
fn trunc_normal_follows_the_closed_form() {
    let _rng = common::serial();
    tch::manual_seed(11);
    let mut t = empty(&BIG_SHAPE);
    for (mu, sigma, a, b) in
        [(0.0, 1.0, -2.0, 2.0), (0.1, 0.5, -0.4, 0.9), (0.0, 0.02, -0.04, 0.04), (1.0, 2.0, 0.0, 10.0)]
    {
        init::trunc_normal_(&mut t, mu, sigma, a, b).unwrap();
        let s = stats(&t);
        let what = format!("trunc_normal_({mu}, {sigma}, [{a}, {b}])");
        assert!(s.min >= a && s.max <= b, "{what}: outside the bounds: {s:?}");
        let (mean, std) = truncated_moments(mu, sigma, a, b);
        assert_moments(&what, &s, mean, std);
        // Both bounds are approached (the density is positive up to them).
        let span = (b - a) / 100.0;
        assert!(s.min < a + span && s.max > b - span, "{what}: bounds not approached: {s:?}");
    }
}

#[test]
fn orthogonal_is_orthogonal() {
    let _rng = common::serial();
    tch::manual_seed(12);
    for (shape, gain) in [(vec![200i64, 50], 1.0), (vec![50, 200], 1.0), (vec![64, 64], 2.0), (vec![16, 4, 3, 3], 0.5)]
    {
        let mut t = empty(&shape);
        init::orthogonal_(&mut t, gain).unwrap();
        let m = t.reshape([shape[0], -1]).to_kind(Kind::Double);
        let (rows, cols) = (m.size()[0], m.size()[1]);
        // rows >= cols: the columns are orthonormal (Qᵀ Q = gain² I); else the rows (Q Qᵀ).
        let (g, k) =
            if rows >= cols { (m.transpose(0, 1).matmul(&m), cols) } else { (m.matmul(&m.transpose(0, 1)), rows) };
        let want = Tensor::eye(k, (Kind::Double, Device::Cpu)) * (gain * gain);
        let err = (g - want).abs().max().double_value(&[]);
        assert!(err < 1e-5 * gain * gain, "orthogonal_ {shape:?} gain {gain}: max |QᵀQ − g²I| = {err}");
    }
}

// ----------------------------------------------------------------------------------------------
// The layers' default initialisation is torch's reset_parameters.

#[test]
fn default_init_is_reset_parameters() {
    let _rng = common::serial();
    tch::manual_seed(13);
    let vs = VarStore::new(Device::Cpu);
    let root = vs.root();
    // kaiming_uniform(a=√5): gain √(2/(1+5)), bound gain·√(3/fan_in) (= 1/√fan_in); bias U(±1/√fan_in).
    let gain = (2.0f64 / (1.0 + 5.0)).sqrt();
    let conv = Conv2d::new(&(&root / "conv"), 256, 512, 3, Conv2dConfig::default()).unwrap();
    let fan_in: f64 = 256.0 * 9.0;
    let b = gain * (3.0 / fan_in).sqrt();
    assert_uniform("Conv2d weight", &conv.weight, -b, b);
    let bias = conv.bias.as_ref().unwrap();
    let bb = 1.0 / f64::sqrt(fan_in);
    let s = stats(bias);
    assert!(s.min >= -bb && s.max <= bb && s.max - s.min > bb, "Conv2d bias: {s:?} vs ±{bb}");
    assert_moments("Conv2d bias", &s, 0.0, bb / 3f64.sqrt());

    let gconv = Conv2d::new(&(&root / "gconv"), 512, 512, 3, Conv2dConfig::default().groups(4)).unwrap();
    let fan_in: f64 = 128.0 * 9.0;
    let b = gain * (3.0 / fan_in).sqrt();
    assert_uniform("grouped Conv2d weight", &gconv.weight, -b, b);
    let s = stats(gconv.bias.as_ref().unwrap());
    assert!(s.min >= -1.0 / f64::sqrt(fan_in) && s.max <= 1.0 / f64::sqrt(fan_in), "grouped Conv2d bias: {s:?}");

    let lin = Linear::new(&(&root / "fc"), 1000, 2000).unwrap();
    let b = gain * (3.0 / 1000.0f64).sqrt();
    assert_uniform("Linear weight", &lin.weight, -b, b);
    let s = stats(lin.bias.as_ref().unwrap());
    let bb = 1.0 / 1000f64.sqrt();
    assert!(s.min >= -bb && s.max <= bb, "Linear bias: {s:?}");
    assert_moments("Linear bias", &s, 0.0, bb / 3f64.sqrt());

    let bn = BatchNorm2d::new(&(&root / "bn"), 7, Default::default()).unwrap();
    assert_all("BN weight", bn.weight.as_ref().unwrap(), 1.0);
    assert_all("BN bias", bn.bias.as_ref().unwrap(), 0.0);
    assert_all("BN running_mean", bn.running_mean.as_ref().unwrap(), 0.0);
    assert_all("BN running_var", bn.running_var.as_ref().unwrap(), 1.0);
    let nbt = bn.num_batches_tracked.as_ref().unwrap();
    assert_eq!(nbt.kind(), Kind::Int64);
    assert_eq!(nbt.size(), Vec::<i64>::new());
    assert_eq!(nbt.int64_value(&[]), 0);
    let ln = LayerNorm::new(&(&root / "ln"), &[3, 4]).unwrap();
    assert_all("LayerNorm weight", ln.weight.as_ref().unwrap(), 1.0);
    assert_all("LayerNorm bias", ln.bias.as_ref().unwrap(), 0.0);
    let gn = GroupNorm::new(&(&root / "gn"), 2, 6).unwrap();
    assert_all("GroupNorm weight", gn.weight.as_ref().unwrap(), 1.0);
    assert_all("GroupNorm bias", gn.bias.as_ref().unwrap(), 0.0);
    let pr = PReLU::new(&(&root / "pr"), 5, 0.25).unwrap();
    assert_all("PReLU weight", &pr.weight, 0.25);
}

// ----------------------------------------------------------------------------------------------
// The tutorial's three recipes, against their formulas.

fn snapshot(m: &dyn Module) -> HashMap<String, Tensor> {
    m.state_dict().into_iter().map(|(k, v)| (k, v.detach().copy())).collect()
}

#[test]
fn recipe_initialize_weights_on_yolo_v1() {
    let _rng = common::serial();
    tch::manual_seed(14);
    let vs = VarStore::new(Device::Cpu);
    let net = Yolo_v1::new(&vs.root(), 20).unwrap();
    // Spoil every parameter, then run the recipe.
    {
        let _g = tch::no_grad_guard();
        for (_, mut p) in net.named_parameters() {
            let _ = p.fill_(7.0);
        }
    }
    recipes::initialize_weights(&net).unwrap();
    let mut seen = 0;
    for (path, m) in net.named_modules() {
        match m.kind() {
            ModuleKind::Conv2d => {
                let w = m.parameter("weight").unwrap();
                let s = w.size();
                let n = (s[2] * s[3] * s[0]) as f64;
                assert_normal_small(&format!("{path}.weight"), &w, (2.0 / n).sqrt());
                assert_all(&format!("{path}.bias"), &m.parameter("bias").unwrap(), 0.0);
                seen += 1;
            }
            ModuleKind::BatchNorm2d => {
                assert_all(&format!("{path}.weight"), &m.parameter("weight").unwrap(), 1.0);
                assert_all(&format!("{path}.bias"), &m.parameter("bias").unwrap(), 0.0);
                seen += 1;
            }
            ModuleKind::Linear => {
                assert_normal_small(&format!("{path}.weight"), &m.parameter("weight").unwrap(), 0.01);
                assert_all(&format!("{path}.bias"), &m.parameter("bias").unwrap(), 0.0);
                seen += 1;
            }
            _ => {}
        }
    }
    assert_eq!(seen, 3 + 3 + 2, "3 Conv2d, 3 BatchNorm2d and 2 Linear");
}

/// N(0, std²) for tensors of any size (the tails check needs a large sample).
#[track_caller]
fn assert_normal_small(what: &str, t: &Tensor, std: f64) {
    let s = stats(t);
    assert_moments(what, &s, 0.0, std);
    if s.n > 100_000.0 {
        assert!(s.max > 4.0 * std && s.min < -4.0 * std, "{what}: tails too short: {s:?}");
    }
}

#[test]
fn recipe_kaiming_fan_out() {
    let _rng = common::serial();
    tch::manual_seed(15);
    let vs = VarStore::new(Device::Cpu);
    let net = Sequential::builder(vs.root())
        .add(|p| Conv2d::new(p, 64, 256, 3, Conv2dConfig::default()))
        .unwrap()
        .add(|p| BatchNorm2d::new(p, 256, Default::default()))
        .unwrap()
        .add(|p| Conv2d::new(p, 256, 128, 1, Conv2dConfig::default().bias(false)))
        .unwrap()
        .add(|p| GroupNorm::new(p, 8, 128))
        .unwrap()
        .add(|p| Linear::new(p, 128, 10))
        .unwrap()
        .build();
    {
        let _g = tch::no_grad_guard();
        for (k, mut p) in net.named_parameters() {
            if !k.starts_with("0.") && !k.starts_with("2.") && !k.starts_with("4.") {
                let _ = p.fill_(3.0);
            }
        }
    }
    let before = snapshot(&net);
    recipes::kaiming_fan_out(&net).unwrap();
    let relu = torch_gain("relu", None);
    assert_normal_small(
        "0.weight",
        &net.get_submodule("0").unwrap().parameter("weight").unwrap(),
        relu / (256.0f64 * 9.0).sqrt(),
    );
    assert_normal_small(
        "2.weight",
        &net.get_submodule("2").unwrap().parameter("weight").unwrap(),
        relu / 128f64.sqrt(),
    );
    let sd: HashMap<String, Tensor> = net.state_dict().into_iter().collect();
    for k in ["1.weight", "3.weight"] {
        assert_all(k, &sd[k], 1.0);
    }
    for k in ["1.bias", "3.bias"] {
        assert_all(k, &sd[k], 0.0);
    }
    // The recipe leaves conv biases, Linear layers and buffers alone.
    for k in ["0.bias", "4.weight", "4.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"] {
        assert!(sd[k].equal(&before[k]), "{k} changed");
    }
}

#[test]
fn recipe_weights_init_kaiming_on_one_submodule_only() {
    let _rng = common::serial();
    tch::manual_seed(16);
    let vs = VarStore::new(Device::Cpu);
    let net = Yolo_v1::new(&vs.root(), 20).unwrap();
    {
        // Non-zero biases, so that setting one to 0 shows (the seed's init left them at 0).
        let _g = tch::no_grad_guard();
        let _ = net.conv_layer1.get(0).unwrap().parameter("bias").unwrap().fill_(0.3);
        let _ = net.conv_layer1.get(1).unwrap().parameter("bias").unwrap().fill_(0.5);
    }
    let before = snapshot(&net);
    // self.conv_layer1.apply(weights_init_kaiming), then the classifier recipe on it too (it has
    // no Linear, so that changes nothing).
    recipes::weights_init_kaiming(&net.conv_layer1).unwrap();
    recipes::weights_init_classifier(&net.conv_layer1).unwrap();
    let after = snapshot(&net);
    let mut changed = Vec::new();
    for (k, v) in &after {
        if !v.equal(&before[k]) {
            changed.push(k.clone());
        }
    }
    changed.sort();
    assert_eq!(
        changed,
        ["conv_layer1.0.weight", "conv_layer1.1.bias", "conv_layer1.1.weight"],
        "what the recipe changed"
    );
    // Conv: kaiming_normal(a=0, fan_in): std √2/√fan_in; its bias is left alone.
    let fan_in = 3.0 * 49.0;
    assert_normal_small(
        "conv_layer1.0.weight",
        &after["conv_layer1.0.weight"],
        torch_gain("leaky_relu", Some(0.0)) / f64::sqrt(fan_in),
    );
    // BatchNorm2d: weight N(1, 0.02²), bias 0 (it was already 0: check the value).
    let w = &after["conv_layer1.1.weight"];
    let s = stats(w);
    assert_moments("conv_layer1.1.weight", &s, 1.0, 0.02);
    assert_all("conv_layer1.1.bias", &after["conv_layer1.1.bias"], 0.0);
    assert_all("conv_layer1.0.bias (untouched)", &after["conv_layer1.0.bias"], 0.3);
    drop(before);
    drop(after);

    // The Linear branches, on the classifier (the recipes are free functions on any subtree).
    let before = snapshot(&net.conn_layer2);
    recipes::weights_init_classifier(&net.conn_layer2).unwrap();
    let w = net.conn_layer2.get(0).unwrap().parameter("weight").unwrap();
    assert!(!w.equal(&before["0.weight"]));
    assert_normal_small("conn_layer2.0.weight (classifier)", &w, 0.001);
    assert_all("conn_layer2.0.bias", &net.conn_layer2.get(0).unwrap().parameter("bias").unwrap(), 0.0);
    recipes::weights_init_kaiming(&net.conn_layer2).unwrap();
    // Linear: kaiming_normal(a=0, fan_out): std √2/√out_features.
    let w = net.conn_layer2.get(0).unwrap().parameter("weight").unwrap();
    assert_normal_small("conn_layer2.0.weight (kaiming)", &w, 2f64.sqrt() / 1470f64.sqrt());
}
