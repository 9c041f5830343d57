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

/// Asserts `a` and `b` have equal shape and are close: |a−b| ≤ atol + rtol·|b|.
#[track_caller]
pub fn assert_close(what: &str, a: &Tensor, b: &Tensor, rtol: f64, atol: f64) {
    assert_eq!(a.size(), b.size(), "{what}: shapes differ");
    let a = a.to_kind(tch::Kind::Double).to_device(tch::Device::Cpu);
    let b = b.to_kind(tch::Kind::Double).to_device(tch::Device::Cpu);
    let diff = (&a - &b).abs();
    let tol = b.abs() * rtol + atol;
    let bad = diff.gt_tensor(&tol).sum(tch::Kind::Int64).int64_value(&[]);
    let max = if diff.numel() > 0 { diff.max().double_value(&[]) } else { 0.0 };
    assert!(
        bad == 0,
        "{what}: {bad} of {} elements differ beyond rtol {rtol} atol {atol} (max |diff| {max:e})",
        diff.numel()
    );
}

/// Says why a test is skipped, on the real stderr (not the captured one), so `cargo test`
/// shows it even when the test passes.
pub fn skip(reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "skipped: {reason}");
}

/// Serialises the tests of one test binary that draw from libtorch's global generator (or
/// build big models): seeded draws must not interleave.
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
