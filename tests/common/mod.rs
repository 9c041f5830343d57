//! Shared test helpers: the fixtures torch writes (scripts/fixtures.py), made on first use.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;
use tch::Tensor;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python of the venv made by scripts/setup (through `.cargo/config.toml`), or `python3`.
pub fn python() -> String {
    std::env::var("TCHVISION_PYTHON")
        .ok()
        .or_else(|| option_env!("TCHVISION_PYTHON").map(String::from))
        .unwrap_or_else(|| "python3".into())
}

/// The fixtures folder, made (or refreshed) by running scripts/fixtures.py once per process.
pub fn fixtures() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::var("TCHVISION_FIXTURES").map(PathBuf::from).unwrap_or_else(|_| root().join("target/fixtures"));
        let status = std::process::Command::new(python())
            .arg(root().join("scripts/fixtures.py"))
            .arg(&dir)
            .status()
            .expect("running scripts/fixtures.py (run scripts/setup first)");
        assert!(status.success(), "scripts/fixtures.py failed");
        dir
    })
    .clone()
}

/// The zoo fixtures folder (scripts/zoo_fixtures.py, incremental: only changed cases are
/// remade), made or refreshed once per process. `TCHVISION_ZOO` (comma-separated names) limits
/// it to some models while working on a family.
pub fn zoo_fixtures() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var("TCHVISION_ZOO_FIXTURES")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root().join("target/zoo-fixtures"));
        let mut cmd = std::process::Command::new(python());
        cmd.arg(root().join("scripts/zoo_fixtures.py")).arg(&dir);
        if let Ok(names) = std::env::var("TCHVISION_ZOO") {
            cmd.args(names.split(',').filter(|s| !s.is_empty()));
        }
        let status = cmd.status().expect("running scripts/zoo_fixtures.py (run scripts/setup first)");
        assert!(status.success(), "scripts/zoo_fixtures.py failed");
        dir
    })
    .clone()
}

/// One fixture file.
pub fn fixture(rel: &str) -> PathBuf {
    let p = fixtures().join(rel);
    assert!(p.exists(), "missing fixture {}", p.display());
    p
}

/// The tensors of a fixture .safetensors file, by name (read with tch, not with tchvision).
pub fn tensors(rel: &str) -> std::collections::HashMap<String, Tensor> {
    Tensor::read_safetensors(fixture(rel)).expect("reading fixture").into_iter().collect()
}

/// A fixture JSON file.
pub fn json(rel: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture(rel)).unwrap()).unwrap()
}

// ----------------------------------------------------------------------------------------------
// Comparisons. Every helper fails on a NaN (even where torch has one: torch's
// `allclose(equal_nan=False)`), on an Inf where torch's value is finite, on a shape or a dtype
// that differs, and says which element is worst, at which index.

/// The index `[i, j, …]` of flat position `flat` in a tensor of shape `shape`.
pub fn unravel(mut flat: i64, shape: &[i64]) -> Vec<i64> {
    let mut idx = vec![0; shape.len()];
    for (d, &n) in shape.iter().enumerate().rev() {
        if n > 0 {
            idx[d] = flat % n;
            flat /= n;
        }
    }
    idx
}

fn same_layout(a: &Tensor, b: &Tensor) -> Result<(), String> {
    if a.size() != b.size() {
        return Err(format!("shapes differ: ours {:?}, torch {:?}", a.size(), b.size()));
    }
    if a.kind() != b.kind() {
        return Err(format!("dtypes differ: ours {:?}, torch {:?}", a.kind(), b.kind()));
    }
    Ok(())
}

fn as_f64(t: &Tensor) -> Tensor {
    let t = t.to_device(tch::Device::Cpu);
    if t.is_complex() {
        t.view_as_real().to_kind(tch::Kind::Double)
    } else {
        t.to_kind(tch::Kind::Double)
    }
}

/// Counts of NaN and ±Inf in a float64 tensor.
fn nonfinite(t: &Tensor) -> (i64, i64) {
    let nan = t.isnan().sum(tch::Kind::Int64).int64_value(&[]);
    let inf = t.isinf().sum(tch::Kind::Int64).int64_value(&[]);
    (nan, inf)
}

/// `Ok` when `ours` and `torch` have the same shape and dtype and every element satisfies
/// torch's `isclose(equal_nan=False)`: `ours == torch` (equal infinities) or a finite
/// `|ours − torch| ≤ atol + rtol·|torch|` (false for any NaN). Otherwise the reason: how many
/// elements fail, the worst one (NaN first, then the largest excess over the tolerance) with its
/// index and both values, and the NaN/Inf counts of each side.
pub fn check_close(ours: &Tensor, torch: &Tensor, rtol: f64, atol: f64) -> Result<(), String> {
    same_layout(ours, torch)?;
    let a = as_f64(ours);
    let b = as_f64(torch);
    let shape = a.size();
    let (a, b) = (a.reshape([-1]), b.reshape([-1]));
    let diff = (&a - &b).abs();
    let tol = b.abs() * rtol + atol;
    // torch.isclose: equal (infinities included), or a finite |diff| within the tolerance.
    let close = a.eq_tensor(&b).logical_or(&diff.isfinite().logical_and(&diff.le_tensor(&tol)));
    let bad = close.logical_not();
    let n_bad = bad.sum(tch::Kind::Int64).int64_value(&[]);
    if n_bad == 0 {
        return Ok(());
    }
    // Worst: a NaN (on either side) ranks first, then the largest |diff| − tol.
    let excess = (&diff - &tol).nan_to_num(f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    let excess = excess.masked_fill(&close, f64::NEG_INFINITY);
    let flat = excess.argmax(None, false).int64_value(&[]);
    let (va, vb) = (a.double_value(&[flat]), b.double_value(&[flat]));
    let (nan_a, inf_a) = nonfinite(&a);
    let (nan_b, inf_b) = nonfinite(&b);
    Err(format!(
        "{n_bad} of {} elements differ beyond rtol {rtol:e} atol {atol:e}; worst at {:?}: ours {va:e}, torch {vb:e} \
         (|diff| {:e}, allowed {:e}); ours has {nan_a} NaN and {inf_a} Inf, torch {nan_b} NaN and {inf_b} Inf",
        a.numel(),
        unravel(flat, &shape),
        (va - vb).abs(),
        atol + rtol * vb.abs(),
    ))
}

/// Asserts [`check_close`]: `ours` is close to `torch` (same shape and dtype, no NaN, Inf only
/// where torch has the same Inf).
#[track_caller]
pub fn assert_close(what: &str, ours: &Tensor, torch: &Tensor, rtol: f64, atol: f64) {
    if let Err(e) = check_close(ours, torch, rtol, atol) {
        panic!("{what}: {e}");
    }
}

/// `Ok` when `ours` and `torch` are bit-identical (same shape, dtype and values; a NaN is never
/// equal, as in `torch.equal`); otherwise how many elements differ and the first one, with its
/// index.
pub fn check_equal(ours: &Tensor, torch: &Tensor) -> Result<(), String> {
    same_layout(ours, torch)?;
    let (a, b) = (ours.to_device(tch::Device::Cpu), torch.to_device(tch::Device::Cpu));
    if a.f_equal(&b).unwrap_or(false) && a.isnan().sum(tch::Kind::Int64).int64_value(&[]) == 0 {
        return Ok(());
    }
    let shape = a.size();
    let (a, b) = (as_f64(&a).reshape([-1]), as_f64(&b).reshape([-1]));
    let differ = a.ne_tensor(&b).logical_or(&a.isnan()).logical_or(&b.isnan());
    let n = differ.sum(tch::Kind::Int64).int64_value(&[]);
    let flat = differ.to_kind(tch::Kind::Int64).argmax(None, false).int64_value(&[]);
    let (va, vb) = (a.double_value(&[flat]), b.double_value(&[flat]));
    Err(format!(
        "{n} of {} elements differ; first at {:?}: ours {va:e}, torch {vb:e}",
        a.numel(),
        unravel(flat, &shape)
    ))
}

/// Asserts [`check_equal`]: bit-identical to torch's.
#[track_caller]
pub fn assert_equal(what: &str, ours: &Tensor, torch: &Tensor) {
    if let Err(e) = check_equal(ours, torch) {
        panic!("{what}: {e}");
    }
}

/// `Ok` when the scalar `ours` is close to `torch` as [`check_close`] judges elements.
pub fn check_close_f64(ours: f64, torch: f64, rtol: f64, atol: f64) -> Result<(), String> {
    if ours == torch || (ours - torch).abs() <= atol + rtol * torch.abs() {
        Ok(())
    } else {
        Err(format!(
            "ours {ours:e}, torch {torch:e} (|diff| {:e}, allowed {:e} by rtol {rtol:e} atol {atol:e})",
            (ours - torch).abs(),
            atol + rtol * torch.abs()
        ))
    }
}

/// Asserts [`check_close_f64`].
#[track_caller]
pub fn assert_close_f64(what: &str, ours: f64, torch: f64, rtol: f64, atol: f64) {
    if let Err(e) = check_close_f64(ours, torch, rtol, atol) {
        panic!("{what}: {e}");
    }
}

/// Asserts that a loop over fixture cases covered exactly the names of an independent list
/// (the fixture's manifest, the registry, …), and that the list is not empty: a loop over an
/// empty or truncated fixture must fail, not pass.
#[track_caller]
pub fn assert_covered<A, B>(what: &str, covered: A, expected: B)
where
    A: IntoIterator,
    A::Item: AsRef<str>,
    B: IntoIterator,
    B::Item: AsRef<str>,
{
    let covered: Vec<String> = covered.into_iter().map(|s| s.as_ref().to_string()).collect();
    let expected: Vec<String> = expected.into_iter().map(|s| s.as_ref().to_string()).collect();
    assert!(!expected.is_empty(), "{what}: the list of expected cases is empty");
    let c: std::collections::BTreeSet<&String> = covered.iter().collect();
    let e: std::collections::BTreeSet<&String> = expected.iter().collect();
    assert_eq!(c.len(), covered.len(), "{what}: a case was checked twice: {covered:?}");
    let missing: Vec<_> = e.difference(&c).collect();
    let extra: Vec<_> = c.difference(&e).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: checked {} cases, expected {}; not checked: {missing:?}; not expected: {extra:?}",
        covered.len(),
        expected.len()
    );
}

/// The strings of a JSON array (a fixture manifest).
pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a JSON array, got {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_else(|| panic!("expected a string, got {s}")).to_string())
        .collect()
}

/// Says why a test is skipped, on the real stderr (not the captured one), so `cargo test`
/// shows it even when the test passes.
pub fn skip(reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "skipped: {reason}");
}

/// Prints what a passing test measured (errors, times) straight to stderr, which the test
/// harness does not capture, so that every run's log shows it.
pub fn info(what: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "info: {what}");
}

/// Serialises the tests of one test binary that must not overlap: those that draw from
/// libtorch's global generator (seeded draws must not interleave), build big models or time a
/// child process.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Copies torch's tensors `src[prefix + key]` into every state-dict entry of `m` (in place,
/// under no_grad, converting the dtype); asserts each key exists with the same shape.
pub fn copy_state(m: &dyn tchvision::nn::Module, src: &std::collections::HashMap<String, Tensor>, prefix: &str) {
    use tchvision::nn::ModuleExt;
    let _g = tch::no_grad_guard();
    for (k, mut t) in m.state_dict() {
        let s = src.get(&format!("{prefix}{k}")).unwrap_or_else(|| panic!("fixture lacks {prefix}{k}"));
        assert_eq!(t.size(), s.size(), "{prefix}{k}: shape");
        t.f_copy_(s).unwrap();
    }
}

/// The seeded weights of scripts/fixtures_zoo.py (see its docs), made by libtorch's generator
/// exactly as torch makes them: fills every floating state-dict entry of `m` and returns the
/// float64 sum of what it wrote (to compare with the fixture's `seeded_sum`).
pub fn seed_state(m: &dyn tchvision::nn::Module, seed_base: i64) -> f64 {
    use tchvision::nn::ModuleExt;
    let _g = tch::no_grad_guard();
    let mut total = 0.0;
    for (i, (k, mut t)) in m.state_dict().into_iter().enumerate() {
        if !t.is_floating_point() {
            continue;
        }
        tch::manual_seed(seed_base + i as i64);
        let g = Tensor::randn(t.size(), (tch::Kind::Float, tch::Device::Cpu));
        let v = if k.ends_with("running_var") {
            g.abs() + 0.5
        } else if g.dim() >= 2 {
            let fan_in = g.numel() as f64 / g.size()[0] as f64;
            g / fan_in.sqrt()
        } else if k.ends_with("weight") {
            g * 0.1 + 1.0
        } else {
            g * 0.1
        };
        total += v.to_kind(tch::Kind::Double).sum(tch::Kind::Double).double_value(&[]);
        t.copy_(&v);
    }
    total
}

// ----------------------------------------------------------------------------------------------
// Weights both sides compute: scripts/fixtures_yolo.py's `hashed_unit` and `fill`.

/// scripts/fixtures_yolo.py's `hashed_unit`, with the same tensor operations: `n` numbers in
/// (−1, 1), a hash of the index (period 65537) salted with `k`, exact in int64 anywhere.
pub fn hashed_unit(n: i64, k: i64) -> Tensor {
    use tch::{Device, Kind};
    const P: i64 = 2147483647;
    let l = n.clamp(1, 65537);
    let i = Tensor::arange(l, (Kind::Int64, Device::Cpu));
    let h = (i * 40503 + (k * 7919 + 12345)).remainder(P);
    let h = (&h * &h).remainder(P);
    let h = (h * 48271).remainder(P);
    let base = h.to_kind(Kind::Double) / (P as f64) * 2.0 - 1.0;
    base.repeat([(n + l - 1) / l]).narrow(0, 0, n)
}

/// scripts/fixtures_yolo.py's `fill`: the k-th state-dict entry (but num_batches_tracked) gets
/// `hashed_unit(numel, k)` scaled by its role (weights of dim ≥ 2 uniform with std √(2/fan_in),
/// running variances 0.75 + 0.25u, other weights 1 + 0.1u, the rest 0.1u). Returns each filled
/// entry with the float64 sum of its values.
pub fn hashed_fill(model: &dyn tchvision::nn::Module) -> Vec<(String, f64)> {
    use tch::Kind;
    use tchvision::nn::ModuleExt;
    let _g = tch::no_grad_guard();
    let mut sums = Vec::new();
    for (k, (name, mut t)) in model.state_dict().into_iter().enumerate() {
        if name.ends_with("num_batches_tracked") || !t.is_floating_point() {
            continue; // integer buffers are structure (Swin's relative_position_index)
        }
        let n = t.numel() as i64;
        let u = hashed_unit(n, k as i64);
        let v = if t.dim() >= 2 {
            let fan_in = n / t.size()[0];
            u * 3f64.sqrt() * (2.0 / fan_in as f64).sqrt()
        } else if name.ends_with("running_var") {
            u * 0.25 + 0.75
        } else if name.ends_with("weight") {
            u * 0.1 + 1.0
        } else {
            u * 0.1
        };
        t.copy_(&v.reshape(t.size()).to_kind(t.kind()).to_device(t.device()));
        sums.push((name, t.to_kind(Kind::Double).sum(Kind::Double).double_value(&[])));
    }
    sums
}

/// Checks the registry's weights tables of the architectures in the fixture `rel` (a list of
/// torchvision's weights enum records, written by scripts/fixtures_densenet.py's `published`)
/// against it: the same weights in the same order, each with the same file, metadata and
/// preprocessing (resize, crop, interpolation).
pub fn assert_weights_tables_match(rel: &str) {
    let tv = json(rel);
    let tv = tv.as_array().unwrap();
    let mut archs: Vec<&str> = tv.iter().map(|t| t["arch"].as_str().unwrap()).collect();
    archs.dedup();
    let ours: Vec<_> = archs.iter().flat_map(|a| tchvision::registry::model_info(a).unwrap().weights).collect();
    assert_eq!(ours.len(), tv.len(), "{rel}: number of weights");
    for (w, t) in ours.into_iter().zip(tv) {
        let what = format!("{} {}", w.arch, w.name);
        assert_eq!(w.arch, t["arch"], "{what}");
        assert_eq!(w.name, t["name"], "{what}");
        assert_eq!(w.file, t["file"], "{what}");
        assert_eq!(w.num_params, t["num_params"].as_i64().unwrap(), "{what}");
        assert_eq!([w.acc1, w.acc5], [t["acc1"].as_f64().unwrap(), t["acc5"].as_f64().unwrap()], "{what}");
        assert_eq!(
            [w.gflops, w.file_size_mb],
            [t["gflops"].as_f64().unwrap(), t["file_size_mb"].as_f64().unwrap()],
            "{what}"
        );
        let pre = w.preprocess();
        assert_eq!(pre.resize_size, t["resize_size"].as_i64().unwrap(), "{what}");
        assert_eq!(pre.crop_size, t["crop_size"].as_i64().unwrap(), "{what}");
        assert_eq!(serde_json::to_value(pre.interpolation).unwrap(), t["interpolation"], "{what}");
        assert_eq!(w.default, t["default"].as_bool().unwrap(), "{what}");
        assert_eq!(w.categories().len() as i64, t["categories"].as_i64().unwrap(), "{what}");
    }
}
