//! Saves interrupted by signals, through the built binary: `tchvision convert BIG OUT.pth` writes
//! a 24 MB `.pth` over an existing OUT.pth and is killed half way.
//!
//! * SIGKILL, at 20 random points of the write (after its temporary file appeared): when the
//!   kill lands before the rename (the temporary file is still there), OUT.pth must be the old
//!   file bit for bit (or the new one, complete, once a save got past its rename); after it,
//!   the complete new file. The temporary file a killed writer cannot remove must be removed
//!   by the next save of the same path: each save checks the one before it left nothing.
//! * SIGINT and SIGTERM the instant the temporary file appears: the process dies of the signal
//!   (as without tchvision's handler), leaves no temporary file and OUT.pth bit-identical (or,
//!   when the save got past its rename first, the new file complete).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tchvision");

/// A safetensors file of `n` float32 values (a cheap pattern), written without tchvision.
fn big_safetensors(path: &Path, n: usize) {
    let header = format!(r#"{{"w":{{"dtype":"F32","shape":[{n}],"data_offsets":[0,{}]}}}}"#, 4 * n);
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend((0..4 * n).map(|i| (i % 251) as u8));
    std::fs::write(path, b).unwrap();
}

fn temps(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect()
}

fn convert(src: &Path, dst: &Path) -> Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(BIN);
    cmd.arg("convert").arg(src).arg(dst).stdout(Stdio::null()).stderr(Stdio::piped());
    // A shell runs background jobs with SIGINT ignored, and children inherit that (tchvision
    // then rightly leaves the signal alone): the child starts with the default dispositions,
    // whoever launched the tests.
    // SAFETY: only async-signal-safe calls (signal) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

/// Runs a convert to completion; asserts success.
fn convert_ok(src: &Path, dst: &Path) {
    let out = convert(src, dst).wait_with_output().unwrap();
    assert!(out.status.success(), "convert failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Waits until a temporary file other than `old` appears in `dir` (`Some(when)`), or the child
/// exits (`None`), looking every `poll`.
fn wait_for_temp_every(child: &mut Child, dir: &Path, old: &[PathBuf], poll: Duration) -> Option<Instant> {
    let start = Instant::now();
    loop {
        if temps(dir).iter().any(|t| !old.contains(t)) {
            return Some(Instant::now());
        }
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "convert never started writing");
        std::thread::sleep(poll);
    }
}

fn wait_for_temp(child: &mut Child, dir: &Path, old: &[PathBuf]) -> Option<Instant> {
    wait_for_temp_every(child, dir, old, Duration::from_micros(500))
}

/// xorshift64*: the kill points, from a seed printed for reruns.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    work: PathBuf,
    big: PathBuf,
    small: PathBuf,
    out: PathBuf,
    old: Vec<u8>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let big = dir.path().join("big.safetensors");
    big_safetensors(&big, 6 << 20);
    let small = dir.path().join("small.safetensors");
    big_safetensors(&small, 1000);
    let out = work.join("out.pth");
    convert_ok(&small, &out);
    let old = std::fs::read(&out).unwrap();
    Setup { work, big, small, out, old, _dir: dir }
}

#[test]
fn sigkill_at_random_points_of_a_save_leaves_the_old_file() {
    // One test at a time: each times a child's write, which the other's children would slow
    // down and speed up at random on a 2-core machine.
    let _serial = common::serial();
    let s = setup();
    // How long the write itself takes: from the temporary file's appearance to its rename.
    let probe_dir = s.work.join("probe");
    std::fs::create_dir(&probe_dir).unwrap();
    let mut child = convert(&s.big, &probe_dir.join("probe.pth"));
    let began = wait_for_temp(&mut child, &probe_dir, &[]).expect("the probe wrote a temporary file");
    while !temps(&probe_dir).is_empty() {
        std::thread::sleep(Duration::from_micros(500));
    }
    let write_time = began.elapsed();
    assert!(child.wait().unwrap().success());
    let new = std::fs::read(probe_dir.join("probe.pth")).unwrap();
    std::fs::remove_dir_all(&probe_dir).unwrap();

    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("kill points: seed {seed}, write time {write_time:?}");
    let mut rng = Rng(seed);
    // What OUT holds: the old file until a save completes.
    let mut current = s.old.clone();
    let mut left_before: Vec<PathBuf> = Vec::new();
    let mut mid_write = 0;
    for i in 0..20 {
        let mut child = convert(&s.big, &s.out);
        let delay = write_time.mul_f64(0.7 * rng.next_f64());
        let Some(began) = wait_for_temp(&mut child, &s.work, &left_before) else {
            panic!("kill {i}: convert exited before writing: {:?}", child.wait_with_output().unwrap());
        };
        while began.elapsed() < delay {
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = child.kill();
        let status = child.wait().unwrap();
        // This save removed the temporary files the previous killed one left.
        for t in &left_before {
            assert!(!t.exists(), "kill {i}: the save did not remove {} left by the previous kill", t.display());
        }
        let now = std::fs::read(&s.out).unwrap();
        let left = temps(&s.work);
        if left.is_empty() {
            // Killed after the rename (syncing the folder, exiting), or not at all: complete.
            assert!(now == new, "kill {i} at {delay:?}: no temporary file left, yet OUT is not the new file");
            println!("kill {i} at {delay:?}: after the rename ({status}); the new file is complete");
            current = new.clone();
        } else {
            assert_eq!(status.signal(), Some(libc::SIGKILL), "kill {i}");
            assert!(now == current, "kill {i} at {delay:?}: the old file changed");
            assert_eq!(left.len(), 1, "kill {i}: {left:?}");
            mid_write += 1;
            println!("kill {i} at {delay:?} into the write: the old file is intact, its temporary file left");
        }
        left_before = left;
    }
    // The next (complete) save of the same path removes what the last killed writer left.
    convert_ok(&s.small, &s.out);
    assert!(temps(&s.work).is_empty(), "temporary files left after the last save: {:?}", temps(&s.work));
    assert_eq!(std::fs::read(&s.out).unwrap(), s.old);
    assert!(mid_write >= 10, "only {mid_write} of 20 kills landed mid-write");
    println!("{mid_write} of 20 kills mid-write");
}

#[test]
fn sigint_and_sigterm_remove_the_temporary_file() {
    // One test at a time: each times a child's write, which the other's children would slow
    // down and speed up at random on a 2-core machine.
    let _serial = common::serial();
    let s = setup();
    let probe = s.work.join("probe.pth");
    convert_ok(&s.big, &probe);
    let new = std::fs::read(&probe).unwrap();
    std::fs::remove_file(&probe).unwrap();
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // The signal is sent the moment the temporary file appears (looking without pause), so
        // that it lands in the first instants of the save as often as in its middle: the file
        // must be removed from the moment it exists.
        let mut landed = 0;
        for attempt in 0..40 {
            let mut child = convert(&s.big, &s.out);
            if wait_for_temp_every(&mut child, &s.work, &[], Duration::ZERO).is_none() {
                println!("signal {sig}, attempt {attempt}: exited before writing");
                convert_ok(&s.small, &s.out);
                continue;
            }
            // SAFETY: kill on our own child's pid.
            unsafe { libc::kill(child.id() as i32, sig) };
            let out = child.wait_with_output().unwrap();
            assert!(temps(&s.work).is_empty(), "signal {sig}: temporary file left: {:?}", temps(&s.work));
            let now = std::fs::read(&s.out).unwrap();
            if now == new {
                // The save got past its rename before the signal: OUT is the new file, complete.
                println!("signal {sig}, attempt {attempt}: the save finished first ({})", out.status);
                convert_ok(&s.small, &s.out);
                continue;
            }
            assert_eq!(out.status.signal(), Some(sig), "stderr: {}", String::from_utf8_lossy(&out.stderr));
            assert!(now == s.old, "signal {sig}: the old file changed");
            landed += 1;
            if landed == 8 {
                break;
            }
        }
        assert!(landed >= 3, "signal {sig} landed during a save only {landed} times");
        println!("signal {sig}: landed during a save {landed} times");
    }
}
