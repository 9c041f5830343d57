//! Hostile inputs, run through the built `tchvision` binary as a user with bad files would.
//!
//! Every case runs in a folder of its own holding its inputs (made here: hand-built pickles, zip
//! archives, `.npy`, safetensors and image files), under `setrlimit(RLIMIT_AS)` (the binary's
//! own baseline, measured once, plus 2 GiB: every input here is under 1 MB) and a time limit.
//! For each case it asserts:
//! * the exit status: 1 or 2 with exactly one line on stderr, `tchvision: error: …`, naming what
//!   the case expects, in plain words (no Rust debug forms such as `Int(1002)`, no control
//!   characters); or 0 where the input is legal (a 70 000-byte key, a closed stdout pipe);
//!   never 101 (a panic), never a signal (an abort, a crash, the memory limit);
//! * memory (the rlimit) and time stay bounded;
//! * every file of the folder is byte- and mode-identical afterwards, the only new files are
//!   the ones the case allows, and no temporary file is left anywhere in it.
//!
//! The classes: `.npy` headers that lie; unpickler memory and time bombs (nested shared tuples
//! as dict keys, memoized strings copied by persistent ids and `_codecs.encode`, a deflated
//! pickle inflating to megabytes of opcodes, top-level entries sharing one big dict);
//! zero-stride views and shared storages that would materialise gigabytes; outputs that would
//! overwrite inputs; arguments checked only after outputs were written; outputs whose name says
//! another format; loads that load nothing; FIFOs and folders given as files; closed pipes and
//! full disks on stdout; messages with debug text, cut lists and control characters.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tchvision");

/// The memory a case may use beyond the binary's own baseline.
const ALLOWANCE: u64 = 2 << 30;

/// The longest a case may run (a debug build on a busy 2-core machine).
const TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Running cases.

/// What a case must end with.
#[derive(Clone, Debug)]
enum Expect {
    /// Exit status `code` (1 or 2), one stderr line containing every needle.
    Fail(i32, Vec<&'static str>),
    /// Exit status 0; stdout contains every needle.
    Ok(Vec<&'static str>),
}

/// Where the case's stdout goes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stdout {
    Captured,
    /// A pipe whose reading end is closed at once (`| head -0`).
    ClosedPipe,
    /// `/dev/full`: every write fails with "no space left".
    Full,
}

struct Case {
    name: &'static str,
    dir: PathBuf,
    args: Vec<OsString>,
    expect: Expect,
    stdout: Stdout,
    /// Files (names in `dir`) the case may create.
    allowed_new: Vec<String>,
    /// RLIMIT_FSIZE for the child, to make a write fail half way.
    fsize: Option<u64>,
}

impl Case {
    fn new(name: &'static str, dir: &Path, args: &[&dyn AsRef<std::ffi::OsStr>], expect: Expect) -> Case {
        Case {
            name,
            dir: dir.to_path_buf(),
            args: args.iter().map(|a| a.as_ref().to_os_string()).collect(),
            expect,
            stdout: Stdout::Captured,
            allowed_new: Vec::new(),
            fsize: None,
        }
    }

    fn stdout(mut self, s: Stdout) -> Case {
        self.stdout = s;
        self
    }

    fn allow(mut self, name: &str) -> Case {
        self.allowed_new.push(name.to_string());
        self
    }

    fn fsize(mut self, limit: u64) -> Case {
        self.fsize = Some(limit);
        self
    }
}

/// A fresh folder for one case, under the test's temporary folder.
fn case_dir(root: &Path, name: &str) -> PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Every file under `dir` (recursively) with its bytes and mode.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            let p = e.path();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                let mode = e.metadata().unwrap().permissions().mode();
                out.insert(p.clone(), (std::fs::read(&p).unwrap(), mode));
            } else {
                out.insert(p, (Vec::new(), e.metadata().unwrap().permissions().mode()));
            }
        }
    }
    out
}

/// Runs `args` with the memory limit and optional file-size limit; returns (status, stdout,
/// stderr, elapsed).
fn spawn_limited(
    args: &[OsString],
    stdout: Stdout,
    as_limit: Option<u64>,
    fsize: Option<u64>,
) -> (std::process::ExitStatus, Vec<u8>, Vec<u8>, Duration) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(Stdio::null()).stderr(Stdio::piped());
    match stdout {
        Stdout::Captured | Stdout::ClosedPipe => cmd.stdout(Stdio::piped()),
        Stdout::Full => cmd.stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap()),
    };
    // SAFETY: only async-signal-safe calls (setrlimit, signal) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let set = |res, v: u64| {
                let lim = libc::rlimit { rlim_cur: v as libc::rlim_t, rlim_max: v as libc::rlim_t };
                libc::setrlimit(res, &lim);
            };
            if let Some(v) = as_limit {
                set(libc::RLIMIT_AS, v);
            }
            set(libc::RLIMIT_CORE, 0);
            if let Some(v) = fsize {
                set(libc::RLIMIT_FSIZE, v);
                // A write past the limit then fails with EFBIG instead of killing the process.
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let mut out_pipe = child.stdout.take();
    if stdout == Stdout::ClosedPipe {
        drop(out_pipe.take());
    }
    let mut err_pipe = child.stderr.take().unwrap();
    // Read both pipes on threads so a chatty child cannot block on a full pipe.
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(p) = out_pipe.as_mut() {
            let _ = std::io::Read::read_to_end(p, &mut v);
        }
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err_pipe, &mut v);
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`tchvision {}` ran for more than {TIMEOUT:?}", show(args));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    (status, out_t.join().unwrap(), err_t.join().unwrap(), elapsed)
}

fn show(args: &[OsString]) -> String {
    args.iter().map(|a| a.to_string_lossy().chars().take(60).collect::<String>()).collect::<Vec<_>>().join(" ")
}

/// The binary's address-space baseline (libtorch maps its CUDA libraries: several GiB of
/// address space): the peak virtual size of an `inspect` blocked on a full stdout pipe.
fn baseline() -> u64 {
    static B: OnceLock<u64> = OnceLock::new();
    *B.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("many.safetensors");
        let names: Vec<String> = (0..4000).map(|i| format!("layer{i}.some.long.parameter.name.weight")).collect();
        let tensors: Vec<(&str, &str, &[u64], &[u8])> =
            names.iter().map(|n| (n.as_str(), "U8", &[1u64][..], &[0u8][..])).collect();
        std::fs::write(&f, safetensors(&tensors)).unwrap();
        let mut child =
            Command::new(BIN).arg("inspect").arg(&f).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let status = format!("/proc/{}/status", child.id());
        let peak = || -> Option<u64> {
            let s = std::fs::read_to_string(&status).ok()?;
            let line = s.lines().find(|l| l.starts_with("VmPeak:"))?;
            Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
        };
        // The output (about 250 KB) cannot all fit the pipe: once the pipe is full, the child
        // is past its setup, blocked writing the listing.
        let fd = std::os::unix::io::AsRawFd::as_raw_fd(child.stdout.as_ref().unwrap());
        let start = Instant::now();
        loop {
            let mut pending: libc::c_int = 0;
            // SAFETY: FIONREAD on our end of the pipe, into a c_int.
            unsafe { libc::ioctl(fd, libc::FIONREAD, &mut pending) };
            if pending >= 60_000 {
                break;
            }
            assert!(child.try_wait().unwrap().is_none(), "the baseline probe exited early");
            assert!(start.elapsed() < TIMEOUT, "the baseline probe never filled its stdout");
            std::thread::sleep(Duration::from_millis(20));
        }
        let last = peak().unwrap_or(0);
        let _ = child.kill();
        let _ = child.wait();
        assert!(last > 0, "no VmPeak in {status}");
        println!("address-space baseline: {} MiB", last >> 20);
        last
    })
}

/// Matches Rust debug forms of enums and strings in messages (`Int(1002)`, `Number(3)`).
fn has_debug_text(s: &str) -> Option<&'static str> {
    const FORMS: &[&str] = &[
        "Int(", "BigInt(", "Float(", "Str(", "Bytes(", "Number(", "String(", "Array(", "Object(", "Some(", "None)",
        "Obj(", "Bool(", "Cuda(", "Kind::", "Value::", "Error {", "Os {", "kind: ",
    ];
    FORMS.iter().copied().find(|f| s.contains(f))
}

/// Runs one case and checks every property; returns its stdout.
fn check(case: &Case) -> Vec<u8> {
    let before = snapshot(&case.dir);
    let limit = baseline() + ALLOWANCE;
    let (status, out, err, elapsed) = spawn_limited(&case.args, case.stdout, Some(limit), case.fsize);
    let err_s = String::from_utf8_lossy(&err).into_owned();
    let ctx = format!("case `{}` (`tchvision {}`, {elapsed:.1?})", case.name, show(&case.args));
    assert!(status.signal().is_none(), "{ctx}: killed by signal {:?}; stderr: {err_s}", status.signal());
    let code = status.code().unwrap();
    assert_ne!(code, 101, "{ctx}: panicked: {err_s}");
    match &case.expect {
        Expect::Fail(want, needles) => {
            assert_eq!(code, *want, "{ctx}: exit status {code}, expected {want}; stderr: {err_s}");
            assert!(
                err_s.ends_with('\n') && err_s.matches('\n').count() == 1,
                "{ctx}: stderr is not one line: {err_s:?}"
            );
            assert!(err_s.starts_with("tchvision: error: "), "{ctx}: {err_s}");
            let line = err_s.trim_end_matches('\n');
            assert!(!line.chars().any(char::is_control), "{ctx}: control characters in {line:?}");
            if let Some(form) = has_debug_text(line) {
                panic!("{ctx}: debug text `{form}` in: {line}");
            }
            for n in needles {
                assert!(line.contains(n), "{ctx}: `{line}` should contain `{n}`");
            }
        }
        Expect::Ok(needles) => {
            assert_eq!(code, 0, "{ctx}: exit status {code}; stderr: {err_s}");
            if case.stdout == Stdout::ClosedPipe {
                assert!(err.is_empty(), "{ctx}: a closed pipe should end quietly, got: {err_s}");
            }
            let out_s = String::from_utf8_lossy(&out);
            for n in needles {
                assert!(out_s.contains(n), "{ctx}: stdout should contain `{n}`");
            }
        }
    }
    println!("{ctx}: exit {code}");
    let after = snapshot(&case.dir);
    for (p, (bytes, mode)) in &before {
        let (b2, m2) = after.get(p).unwrap_or_else(|| panic!("{ctx}: {} was removed", p.display()));
        assert!(b2 == bytes, "{ctx}: {} changed", p.display());
        assert_eq!(m2, mode, "{ctx}: the mode of {} changed", p.display());
    }
    for p in after.keys() {
        let name = p.strip_prefix(&case.dir).unwrap().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp-"), "{ctx}: temporary file {name} left behind");
        if !before.contains_key(p) {
            assert!(case.allowed_new.contains(&name), "{ctx}: unexpected new file {name}");
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Making hostile files.

/// A safetensors file: (name, dtype, shape, bytes) per tensor, laid out in order.
fn safetensors(tensors: &[(&str, &str, &[u64], &[u8])]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut off = 0usize;
    for (k, dt, shape, data) in tensors {
        header.insert(
            k.to_string(),
            serde_json::json!({"dtype": dt, "shape": shape, "data_offsets": [off, off + data.len()]}),
        );
        off += data.len();
    }
    safetensors_raw(
        &serde_json::Value::Object(header).to_string(),
        &tensors.iter().flat_map(|t| t.3.to_vec()).collect::<Vec<u8>>(),
    )
}

fn safetensors_raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

/// A `.npy` file (version 1.0) with `header` as its dict and `data` after it.
fn npy(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(data);
    b
}

/// A zip archive of `(name, bytes, deflate)` entries with correct CRC-32s.
fn zip(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, deflate) in entries {
        let crc = crc32fast::hash(data);
        let stored: Vec<u8> = if *deflate { miniz_oxide::deflate::compress_to_vec(data, 9) } else { data.to_vec() };
        let method: u16 = if *deflate { 8 } else { 0 };
        let offset = out.len() as u32;
        let mut h = b"PK\x03\x04".to_vec();
        h.extend_from_slice(&20u16.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(&method.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&(stored.len() as u32).to_le_bytes());
        h.extend_from_slice(&(data.len() as u32).to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(&stored);
        let c = &mut central;
        c.extend_from_slice(b"PK\x01\x02");
        c.extend_from_slice(&20u16.to_le_bytes());
        c.extend_from_slice(&20u16.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&method.to_le_bytes());
        c.extend_from_slice(&0u32.to_le_bytes());
        c.extend_from_slice(&crc.to_le_bytes());
        c.extend_from_slice(&(stored.len() as u32).to_le_bytes());
        c.extend_from_slice(&(data.len() as u32).to_le_bytes());
        c.extend_from_slice(&(name.len() as u16).to_le_bytes());
        c.extend_from_slice(&[0; 12]);
        c.extend_from_slice(&offset.to_le_bytes());
        c.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A `.pth` zip archive with this `data.pkl` and these storages (`archive/data/<key>`).
fn pth(pkl: &[u8], deflate_pkl: bool, storages: &[(&str, &[u8])]) -> Vec<u8> {
    let names: Vec<String> = storages.iter().map(|(k, _)| format!("archive/data/{k}")).collect();
    let mut entries: Vec<(&str, &[u8], bool)> =
        vec![("archive/data.pkl", pkl, deflate_pkl), ("archive/byteorder", b"little", false)];
    for ((_, b), n) in storages.iter().zip(&names) {
        entries.push((n, b, false));
    }
    entries.push(("archive/version", b"3\n", false));
    zip(&entries)
}

/// A protocol-2 pickle, written opcode by opcode.
struct P(Vec<u8>);

impl P {
    fn new() -> P {
        P(vec![0x80, 2])
    }
    fn op(mut self, b: &[u8]) -> P {
        self.0.extend_from_slice(b);
        self
    }
    fn global(self, module: &str, name: &str) -> P {
        self.op(b"c").op(module.as_bytes()).op(b"\n").op(name.as_bytes()).op(b"\n")
    }
    fn str(mut self, s: &str) -> P {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn int(mut self, v: i32) -> P {
        self.0.push(b'J');
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn put(mut self, i: u32) -> P {
        self.0.push(b'r');
        self.0.extend_from_slice(&i.to_le_bytes());
        self
    }
    fn get(mut self, i: u32) -> P {
        self.0.push(b'j');
        self.0.extend_from_slice(&i.to_le_bytes());
        self
    }
    fn ints(mut self, v: &[i64]) -> P {
        self.0.push(b'(');
        for &x in v {
            self.0.push(0x8a);
            self.0.push(8);
            self.0.extend_from_slice(&x.to_le_bytes());
        }
        self.0.push(b't');
        self
    }
    /// `_rebuild_tensor_v2(storage(key, FloatStorage, numel), 0, size, stride, False, OrderedDict())`.
    fn tensor(self, key: &str, numel: i32, size: &[i64], stride: &[i64]) -> P {
        self.global("torch._utils", "_rebuild_tensor_v2")
            .op(b"((")
            .str("storage")
            .global("torch", "FloatStorage")
            .str(key)
            .str("cpu")
            .int(numel)
            .op(b"tQ")
            .int(0)
            .ints(size)
            .ints(stride)
            .op(&[0x89])
            .global("collections", "OrderedDict")
            .op(b")Rt")
            .op(b"R")
    }
    fn stop(self) -> Vec<u8> {
        self.op(b".").0
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A small valid PNG (an RGB gradient) made with the image crate.
fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 99]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

// ---------------------------------------------------------------------------------------------
// The cases, one test per class (the test harness runs them two at a time).

#[test]
fn npy_headers_that_lie_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let run = |d: &Path, f: &Path| -> Vec<OsString> {
        ["run", "resnet18", "--device", "cpu", "--input"]
            .iter()
            .map(OsString::from)
            .chain([f.as_os_str().to_os_string(), "--output".into(), d.join("out.safetensors").into_os_string()])
            .collect()
    };
    let mut cases = Vec::new();
    for (name, header, data, needles) in [
        (
            "npy_promises_4mb_holds_16_bytes",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 1000, 1000), }",
            vec![0u8; 16],
            vec!["truncated .npy file", "12000000 bytes", "only 16"],
        ),
        (
            "npy_one_element_short",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 8, 8), }",
            vec![0u8; 4 * 192 - 4],
            vec!["needs 768 bytes", "only 764"],
        ),
        (
            "npy_shape_overflows",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 8), }",
            vec![0u8; 8],
            vec!["overflows"],
        ),
        (
            "npy_negative_dim",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 2), }",
            vec![],
            vec!["dimension -3"],
        ),
        (
            "npy_object_array",
            "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
            vec![0u8; 16],
            vec!["object array"],
        ),
        ("npy_eval_me", "{'descr': __import__('os').system('true'), }", vec![], vec!["bad .npy header"]),
        ("npy_missing_keys", "{'descr': '<f4'}", vec![0u8; 4], vec!["needs the keys"]),
    ] {
        let d = case_dir(r, name);
        let f = write(&d, "x.npy", &npy(header, &data));
        cases.push(Case { args: run(&d, &f), ..Case::new(name, &d, &[], Expect::Fail(1, needles)) });
    }
    let d = case_dir(r, "npy_bad_magic");
    let f = write(&d, "x.npy", b"PK\x03\x04 not numpy at all");
    cases.push(Case { args: run(&d, &f), ..Case::new("npy_bad_magic", &d, &[], Expect::Fail(1, vec!["magic"])) });
    let d = case_dir(r, "npy_unbatched");
    let f = write(&d, "x.npy", &npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4, 4), }", &[0; 192]));
    cases.push(Case {
        args: run(&d, &f),
        ..Case::new("npy_unbatched", &d, &[], Expect::Fail(1, vec!["shape [3, 4, 4]", "add a batch dimension"]))
    });
    for c in &cases {
        check(c);
    }
}

#[test]
fn unpickler_bombs_are_refused_by_the_budget() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let mut cases = Vec::new();
    let inspect = |name: &'static str, pkl: Vec<u8>, deflate: bool, storages: &[(&str, &[u8])], e: Expect| {
        let d = case_dir(r, name);
        let f = write(&d, "x.pth", &pth(&pkl, deflate, storages));
        assert!(std::fs::metadata(&f).unwrap().len() < 1 << 20, "{name}: inputs stay under 1 MB");
        Case::new(name, &d, &[&"inspect", &f], e)
    };
    // t = (t, t) thirty times over, as a dict key: 2^30 key nodes from 70 bytes.
    let mut p = P::new().op(b"}").int(7);
    for _ in 0..30 {
        p = p.op(b"2\x86");
    }
    cases.push(inspect(
        "nested_shared_tuple_key",
        p.op(b"Ns").stop(),
        false,
        &[],
        Expect::Fail(1, vec!["resource budget", "16 MiB plus 256 bytes per byte"]),
    ));
    // A 256 KiB string memoized once and copied by 3000 persistent ids.
    let big = "s".repeat(256 << 10);
    let mut p = P::new().op(b"}").str(&big).put(0).op(b"0");
    for i in 0..3000 {
        p = p
            .int(i)
            .global("torch._utils", "_rebuild_tensor_v2")
            .op(b"((")
            .str("storage")
            .global("torch", "FloatStorage")
            .get(0)
            .get(0)
            .int(1)
            .op(b"tQ")
            .int(0)
            .ints(&[1])
            .ints(&[1])
            .op(&[0x89])
            .op(b"NtRs");
    }
    cases.push(inspect(
        "memoized_string_in_persistent_ids",
        p.stop(),
        false,
        &[],
        Expect::Fail(1, vec!["resource budget"]),
    ));
    // `_codecs.encode` on one memoized 64 KiB string, 5000 times, the results kept in a list.
    let mut p = P::new()
        .op(b"}")
        .str("k")
        .op(b"]")
        .str(&big[..64 << 10])
        .put(0)
        .op(b"0")
        .global("_codecs", "encode")
        .put(1)
        .op(b"0");
    for _ in 0..5000 {
        p = p.get(1).get(0).str("latin1").op(b"\x86Ra");
    }
    cases.push(inspect(
        "codecs_on_memoized_string",
        p.op(b"s").stop(),
        false,
        &[],
        Expect::Fail(1, vec!["resource budget"]),
    ));
    // A deflated data.pkl that inflates to 48 MB of NONE and EMPTY_TUPLE opcodes (a stack of
    // 48 M values), in a repeated 64-byte pattern that deflates about 150 to 1.
    let pattern: Vec<u8> =
        (0..64u32).map(|i| if i.wrapping_mul(2654435761) >> 31 == 0 { b'N' } else { b')' }).collect();
    let mut pkl = vec![0x80, 2];
    while pkl.len() < 48 << 20 {
        pkl.extend_from_slice(&pattern);
    }
    pkl.push(b'.');
    cases.push(inspect("deflated_opcode_bomb", pkl, true, &[], Expect::Fail(1, vec!["resource budget"])));
    // 20 000 top-level entries sharing one dict of 20 000 entries (no tensor anywhere): the
    // state-dict search must look at the shared dict once, not 20 000 times.
    let mut p = P::new().op(b"}").int(-1).op(b"}").put(0);
    p = p.op(b"(");
    for i in 0..20_000 {
        p = p.int(i).op(b"N");
    }
    p = p.op(b"us");
    p = p.op(b"(");
    for i in 0..20_000 {
        p = p.int(i).get(0);
    }
    cases.push(inspect(
        "shared_big_dict",
        p.op(b"u").stop(),
        false,
        &[],
        Expect::Ok(vec!["0 tensors", "20001 other entries"]),
    ));
    // A legacy file whose protocol version is 1002: the message says 1002, not Int(1002).
    let d = case_dir(r, "legacy_version");
    let mut legacy = P::new().op(&[0x8a, 10]).op(&0x1950A86A20F9469CFC6Cu128.to_le_bytes()[..10]).stop();
    legacy.extend(P::new().int(1002).stop());
    let f = write(&d, "x.pth", &legacy);
    cases.push(Case::new("legacy_version", &d, &[&"inspect", &f], Expect::Fail(1, vec!["protocol version 1002"])));
    for c in &cases {
        check(c);
    }
}

#[test]
fn views_that_would_materialise_gigabytes_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let mut cases = Vec::new();
    // A [2^19, 1024] view with strides [0, 1] of 1024 floats: 4 KiB that convert would write as
    // 2 GiB.
    let storage = f32s(&vec![1.5; 1024]);
    let pkl = P::new()
        .global("collections", "OrderedDict")
        .op(b")R")
        .str("w")
        .tensor("0", 1024, &[1 << 19, 1024], &[0, 1])
        .op(b"s")
        .stop();
    let file = pth(&pkl, false, &[("0", &storage)]);
    for (name, out) in [("zero_stride_to_safetensors", "out.safetensors"), ("zero_stride_to_pth", "out.pth")] {
        let d = case_dir(r, name);
        let f = write(&d, "x.pth", &file);
        cases.push(Case::new(
            name,
            &d,
            &[&"convert", &f, &d.join(out)],
            Expect::Fail(1, vec!["refusing to materialise", "`w`", "[524288, 1024]", "strides [0, 1]", "zero-stride"]),
        ));
    }
    let d = case_dir(r, "zero_stride_run_input");
    let f = write(&d, "x.pth", &file);
    cases.push(Case::new(
        "zero_stride_run_input",
        &d,
        &[&"run", &"resnet18", &"--device", &"cpu", &"--input", &f, &"--output", &d.join("y.safetensors")],
        Expect::Fail(1, vec!["refusing to materialise"]),
    ));
    // inspect only lists it (bytes are counted, not allocated).
    let d = case_dir(r, "zero_stride_inspect");
    let f = write(&d, "x.pth", &file);
    cases.push(Case::new("zero_stride_inspect", &d, &[&"inspect", &f], Expect::Ok(vec!["2147483648"])));
    // A view whose byte count overflows 64 bits: inspect says so instead of wrapping.
    let pkl = P::new()
        .global("collections", "OrderedDict")
        .op(b")R")
        .str("w")
        .tensor("0", 1024, &[1 << 40, 1 << 40, 1 << 20], &[0, 0, 0])
        .op(b"s")
        .stop();
    let d = case_dir(r, "overflowing_view_inspect");
    let f = write(&d, "x.pth", &pth(&pkl, false, &[("0", &storage)]));
    cases.push(Case::new(
        "overflowing_view_inspect",
        &d,
        &[&"inspect", &f],
        Expect::Fail(1, vec!["more elements than a tensor can hold"]),
    ));
    // 2^62 elements (a valid view) whose 2^64 bytes overflow: inspect says so instead of wrapping.
    let pkl = P::new()
        .global("collections", "OrderedDict")
        .op(b")R")
        .str("w")
        .tensor("0", 1024, &[1 << 31, 1 << 31], &[0, 0])
        .op(b"s")
        .stop();
    let d = case_dir(r, "overflowing_bytes_inspect");
    let f = write(&d, "x.pth", &pth(&pkl, false, &[("0", &storage)]));
    cases.push(Case::new(
        "overflowing_bytes_inspect",
        &d,
        &[&"inspect", &f],
        Expect::Ok(vec!["overflow", "more than 2^64"]),
    ));
    // One 64 KiB storage shared by 5000 entries: 320 MB of copies from a 100 KB file.
    let storage = f32s(&vec![0.25; 16384]);
    let mut p = P::new()
        .global("collections", "OrderedDict")
        .op(b")R")
        .op(b"(")
        .str("t0")
        .tensor("0", 16384, &[16384], &[1])
        .put(0);
    for i in 1..5000 {
        p = p.str(&format!("t{i}")).get(0);
    }
    let d = case_dir(r, "shared_storage_amplified");
    let f = write(&d, "x.pth", &pth(&p.op(b"u").stop(), false, &[("0", &storage)]));
    cases.push(Case::new(
        "shared_storage_amplified",
        &d,
        &[&"convert", &f, &d.join("out.safetensors")],
        Expect::Fail(1, vec!["refusing to materialise", "4 times the file plus 64 MiB"]),
    ));
    for c in &cases {
        check(c);
    }
}

#[test]
fn outputs_never_overwrite_inputs_and_arguments_are_checked_first() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let mut cases = Vec::new();
    let small = safetensors(&[("a", "F32", &[2], &f32s(&[1.0, 2.0]))]);

    let d = case_dir(r, "detect_out_is_input_folder");
    let img = write(&d, "photo.png", &png(40, 30));
    cases.push(Case::new(
        "detect_out_is_input_folder",
        &d,
        &[&"detect", &"yolo_v1", &img, &"--device", &"cpu", &"--out", &d],
        Expect::Fail(2, vec!["photo.png", "refusing to overwrite an input"]),
    ));
    let d = case_dir(r, "detect_out_via_dotdot");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    let img = write(&d, "photo.png", &png(40, 30));
    cases.push(Case::new(
        "detect_out_via_dotdot",
        &d,
        &[&"detect", &"yolo_v1", &img, &"--device", &"cpu", &"--out", &d.join("sub/..")],
        Expect::Fail(2, vec!["refusing to overwrite an input"]),
    ));
    let d = case_dir(r, "out_names_a_file");
    let img = write(&d, "photo.png", &png(40, 30));
    let file = write(&d, "notadir", b"x");
    cases.push(Case::new(
        "out_names_a_file",
        &d,
        &[&"detect", &"yolo_v1", &img, &"--device", &"cpu", &"--out", &file],
        Expect::Fail(2, vec!["is a file, not a folder"]),
    ));
    let d = case_dir(r, "convert_onto_itself");
    let f = write(&d, "x.safetensors", &small);
    cases.push(Case::new(
        "convert_onto_itself",
        &d,
        &[&"convert", &f, &d.join("./x.safetensors")],
        Expect::Fail(2, vec!["refusing to overwrite an input"]),
    ));
    let d = case_dir(r, "run_output_is_input");
    let f = write(&d, "x.safetensors", &small);
    cases.push(Case::new(
        "run_output_is_input",
        &d,
        &[&"run", &"resnet18", &"--device", &"cpu", &"--input", &f, &"--output", &f],
        Expect::Fail(2, vec!["refusing to overwrite an input"]),
    ));
    let d = case_dir(r, "run_output_wrong_extension");
    let f = write(&d, "x.safetensors", &small);
    cases.push(Case::new(
        "run_output_wrong_extension",
        &d,
        &[&"run", &"resnet18", &"--device", &"cpu", &"--input", &f, &"--output", &d.join("y.txt")],
        Expect::Fail(2, vec!["y.txt", "cannot tell which format"]),
    ));
    let d = case_dir(r, "features_picture_over_input");
    let img = write(&d, "layer1.png", &png(40, 30));
    cases.push(Case::new(
        "features_picture_over_input",
        &d,
        &[&"features", &"resnet18", &img, &"--nodes", &"layer1", &"--device", &"cpu", &"--out", &d],
        Expect::Fail(2, vec!["layer1.png", "refusing to overwrite an input"]),
    ));
    // A node that is no feature map is found before the first picture is written.
    let d = case_dir(r, "features_bad_node_writes_nothing");
    let img = write(&d, "photo.png", &png(40, 30));
    cases.push(Case::new(
        "features_bad_node_writes_nothing",
        &d,
        &[&"features", &"resnet18", &img, &"--nodes", &"layer1,fc", &"--device", &"cpu", &"--out", &d.join("maps")],
        Expect::Fail(2, vec!["`fc`", "nothing was written"]),
    ));
    let d = case_dir(r, "features_unknown_node_points_to_json");
    let img = write(&d, "photo.png", &png(40, 30));
    cases.push(Case::new(
        "features_unknown_node_points_to_json",
        &d,
        &[&"features", &"resnet18", &img, &"--nodes", &"layer9", &"--device", &"cpu", &"--out", &d.join("maps")],
        Expect::Fail(1, vec!["layer9", "more (", "in all)", "--json"]),
    ));
    // A write that fails half way (the file-size limit): the old file stays, no temporary.
    let d = case_dir(r, "convert_write_fails_half_way");
    let big = safetensors(&[("a", "F32", &[65536], &vec![7u8; 262144])]);
    let f = write(&d, "x.safetensors", &big);
    let old = write(&d, "out.pth", b"the old output");
    cases.push(
        Case::new("convert_write_fails_half_way", &d, &[&"convert", &f, &old], Expect::Fail(1, vec!["out.pth"]))
            .fsize(100_000),
    );
    for c in &cases {
        check(c);
    }
}

#[test]
fn replaced_outputs_keep_their_mode() {
    let root = tempfile::tempdir().unwrap();
    let d = case_dir(root.path(), "modes");
    let f = write(&d, "x.safetensors", &safetensors(&[("a", "F32", &[2], &f32s(&[1.0, 2.0]))]));
    for mode in [0o444, 0o600, 0o640] {
        let out = d.join(format!("out{mode:o}.pth"));
        std::fs::write(&out, b"old").unwrap();
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(mode)).unwrap();
        let (status, _, err, _) =
            spawn_limited(&["convert".into(), f.clone().into(), out.clone().into()], Stdout::Captured, None, None);
        assert!(status.success(), "{}", String::from_utf8_lossy(&err));
        assert!(std::fs::read(&out).unwrap().starts_with(b"PK\x03\x04"));
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o7777, mode, "mode {mode:o}");
    }
    let names: Vec<String> =
        std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
}

#[test]
fn wrong_successes_are_errors_and_odd_files_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let mut cases = Vec::new();
    // A file with tensors, none of which is a resnet18 key: nothing loads, exit 1 after the report.
    let d = case_dir(r, "load_nothing");
    let f = write(&d, "x.safetensors", &safetensors(&[("backbone.w", "F32", &[2], &f32s(&[1.0, 2.0]))]));
    cases.push(Case::new(
        "load_nothing",
        &d,
        &[&"load", &"resnet18", &f, &"--device", &"cpu"],
        Expect::Fail(1, vec!["nothing was loaded"]),
    ));
    let d = case_dir(r, "topk_zero");
    let img = write(&d, "photo.png", &png(40, 30));
    cases.push(Case::new(
        "topk_zero",
        &d,
        &[&"predict", &"resnet18", &"--weights", &d.join("w.pth"), &img, &"--topk", &"0", &"--device", &"cpu"],
        Expect::Fail(2, vec!["--topk 0"]),
    ));
    for (name, size, needle) in [
        ("input_size_negative", "--input-size=-1,5", "height -1"),
        ("input_size_zero", "--input-size=0,5", "height 0"),
        ("input_size_huge", "--input-size=100000,100000", "height 100000"),
        ("input_size_three", "--input-size=1,2,3", "two numbers"),
    ] {
        let d = case_dir(r, name);
        cases.push(Case::new(
            name,
            &d,
            &[&"summary", &"resnet18", &size, &"--device", &"cpu"],
            Expect::Fail(2, vec![needle]),
        ));
    }
    // A FIFO without a writer: refused at once, not waited on.
    let d = case_dir(r, "fifo_inputs");
    let fifo = d.join("x.pth");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    cases.push(Case::new(
        "fifo_inspect",
        &d,
        &[&"inspect", &fifo],
        Expect::Fail(1, vec!["FIFO", "not a regular file"]),
    ));
    cases.push(Case::new(
        "fifo_run_input",
        &d,
        &[&"run", &"resnet18", &"--device", &"cpu", &"--input", &fifo, &"--output", &d.join("o.safetensors")],
        Expect::Fail(1, vec!["FIFO"]),
    ));
    cases.push(Case::new(
        "fifo_load",
        &d,
        &[&"load", &"resnet18", &fifo, &"--device", &"cpu"],
        Expect::Fail(1, vec!["FIFO"]),
    ));
    cases.push(Case::new(
        "fifo_image",
        &d,
        &[&"detect", &"yolo_v1", &fifo, &"--device", &"cpu", &"--out", &d.join("o")],
        Expect::Fail(1, vec!["FIFO"]),
    ));
    cases.push(Case::new(
        "device_input",
        &d,
        &[&"inspect", &"/dev/zero"],
        Expect::Fail(1, vec!["a device, not a regular file"]),
    ));
    cases.push(Case::new("folder_input", &d, &[&"inspect", &d], Expect::Fail(1, vec!["a folder, not a file"])));
    for c in &cases {
        check(c);
    }
    let d = case_dir(r, "folder_output");
    std::fs::create_dir(d.join("taken.pth")).unwrap();
    let s = write(&d, "s.safetensors", &safetensors(&[("a", "F32", &[1], &[0; 4])]));
    check(&Case::new(
        "folder_output",
        &d,
        &[&"convert", &s, &d.join("taken.pth")],
        Expect::Fail(1, vec!["exists and is a folder"]),
    ));
    // `run --output x.pth` writes PyTorch's zip format, as its name says.
    let d = case_dir(r, "run_output_pth");
    let x = write(
        &d,
        "x.npy",
        &npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 32, 32), }", &f32s(&vec![0.5; 3072])),
    );
    check(
        &Case::new(
            "run_output_pth",
            &d,
            &[&"run", &"resnet18", &"--device", &"cpu", &"--input", &x, &"--output", &d.join("y.pth")],
            Expect::Ok(vec!["(zip, "]),
        )
        .allow("y.pth"),
    );
    assert!(std::fs::read(d.join("y.pth")).unwrap().starts_with(b"PK\x03\x04"));
}

#[test]
fn stdout_closed_or_full_and_messages_in_plain_words() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let mut cases = Vec::new();
    let d = case_dir(r, "stdout");
    let f = write(&d, "x.safetensors", &safetensors(&[("a", "F32", &[2], &f32s(&[1.0, 2.0]))]));
    cases.push(
        Case::new("closed_pipe_summary", &d, &[&"summary", &"resnet18", &"--device", &"cpu"], Expect::Ok(vec![]))
            .stdout(Stdout::ClosedPipe),
    );
    cases.push(
        Case::new("closed_pipe_inspect_json", &d, &[&"inspect", &f, &"--json"], Expect::Ok(vec![]))
            .stdout(Stdout::ClosedPipe),
    );
    cases.push(
        Case::new(
            "full_disk_summary",
            &d,
            &[&"summary", &"resnet18", &"--device", &"cpu"],
            Expect::Fail(1, vec!["No space left on device"]),
        )
        .stdout(Stdout::Full),
    );
    cases.push(
        Case::new("full_disk_inspect", &d, &[&"inspect", &f], Expect::Fail(1, vec!["No space left on device"]))
            .stdout(Stdout::Full),
    );
    // A key longer than a format width may be (65 535): printed, not a panic.
    let d = case_dir(r, "long_key");
    let key = "k".repeat(70_000);
    let f = write(&d, "x.safetensors", &safetensors(&[(&key, "F32", &[1], &[0; 4]), ("b", "F32", &[1], &[0; 4])]));
    let out = check(&Case::new("long_key", &d, &[&"inspect", &f], Expect::Ok(vec!["total: 2 tensors"])));
    assert!(String::from_utf8_lossy(&out).contains(&key));
    // Control characters in keys are escaped in tables and in errors.
    let d = case_dir(r, "control_chars");
    let evil = "a\u{1b}[31mred\nline\u{7}";
    let f = write(&d, "x.safetensors", &safetensors(&[(evil, "F32", &[1], &[0; 4])]));
    let out =
        check(&Case::new("control_chars_table", &d, &[&"inspect", &f], Expect::Ok(vec!["a\\x1b[31mred\\nline\\x07"])));
    assert!(!out.contains(&0x1b) && !out.contains(&7), "raw control characters on stdout");
    let bad = safetensors_raw(
        &format!("{{\"{}\":{{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,4]}}}}", "a\\u001b[2Jb\\nc"),
        &[0; 4],
    );
    let f = write(&d, "y.safetensors", &bad);
    cases.push(Case::new("control_chars_error", &d, &[&"inspect", &f], Expect::Fail(1, vec!["a\\x1b[2Jb\\nc"])));
    // JSON values in safetensors messages are JSON, not Rust's `Number(…)`.
    let bad = safetensors_raw(r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[-1,"x"]}}"#, &[0; 4]);
    let f = write(&d, "z.safetensors", &bad);
    cases.push(Case::new("json_in_messages", &d, &[&"inspect", &f], Expect::Fail(1, vec!["[-1,\"x\"]"])));
    // An unknown model: the cut list says how many there are and where to see them all.
    // An unknown model: the list of the 80 is cut, with its count and where to see it whole.
    cases.push(Case::new(
        "unknown_model",
        &d,
        &[&"summary", &"resnet5000", &"--device", &"cpu"],
        Expect::Fail(1, vec!["resnet5000", "resnet18", "in all)", "tchvision list --json"]),
    ));
    for c in &cases {
        check(c);
    }
}
