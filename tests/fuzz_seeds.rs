//! A bounded, deterministic smoke form of the fuzz targets (fuzz/fuzz_targets/), on stable:
//! every input of the minimised seed corpus (fuzz/seeds/<target>/) and a fixed number of
//! mutations of them (byte flips, truncations, repeated and inserted chunks, extreme values) go
//! through the same functions as the cargo-fuzz targets. None may panic or take more than a
//! few seconds; the readers answer `Ok` or `Err`. The nightly runs, with their counts, are in
//! the README.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tchvision::checkpoint::npy::read_npy_bytes;
use tchvision::checkpoint::pickle::{self, DType, Obj, StorageRef};
use tchvision::checkpoint::safetensors::{parse_header, tensor_from_bytes};
use tchvision::checkpoint::{read_pth_bytes, ReadOptions};
use tchvision::imageio::{decode_rgb, Preprocess};

/// Mutated inputs per target, spread over its seeds.
const MUTATIONS: usize = 3000;

fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// xorshift64*, seeded per target.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len());
        match rng.below(7) {
            0 if !v.is_empty() => v[at] ^= 1 << rng.below(8),
            1 if !v.is_empty() => v[at] = [0x00, 0xff, 0x7f, 0x80][rng.below(4)],
            2 => v.truncate(at),
            3 => {
                let n = rng.below(64).min(v.len() - at.min(v.len()));
                let chunk = v[at..at + n].to_vec();
                for _ in 0..1 + rng.below(8) {
                    v.splice(at..at, chunk.iter().copied());
                }
            }
            4 => {
                let junk: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
                v.splice(at..at, junk);
            }
            5 if v.len() >= at + 8 => v[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes()),
            _ if !v.is_empty() => v[at] = v[at].wrapping_add(1),
            _ => {}
        }
    }
    v
}

/// Runs `f` on every seed and MUTATIONS mutations; returns how many inputs ran.
fn smoke(target: &str, min_seeds: usize, f: impl Fn(&[u8])) -> usize {
    let files = seeds(target);
    assert!(files.len() >= min_seeds, "{target}: {} seeds, expected at least {min_seeds}", files.len());
    let inputs: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ target.len() as u64);
    let mut ran = 0;
    let run = |data: &[u8], what: &str| {
        let start = Instant::now();
        f(data);
        assert!(start.elapsed() < Duration::from_secs(10), "{target}: {what} took {:?}", start.elapsed());
    };
    for (data, p) in inputs.iter().zip(&files) {
        run(data, &p.display().to_string());
        ran += 1;
    }
    for i in 0..MUTATIONS {
        let data = mutate(&inputs[i % inputs.len()], &mut rng);
        run(&data, &format!("mutation {i} of {}", files[i % inputs.len()].display()));
        ran += 1;
    }
    println!("{target}: {ran} inputs");
    ran
}

#[test]
fn read_pth_seeds_and_mutations() {
    let n = smoke("read_pth", 10, |d| {
        let _ = read_pth_bytes(d, &ReadOptions::default());
    });
    assert!(n > MUTATIONS);
}

#[test]
fn unpickle_seeds_and_mutations() {
    smoke("unpickle", 5, |d| {
        let _ = pickle::load(d, "<smoke>", &mut |arena, _pid| {
            let dtype = DType::from_name("float32").expect("float32 is a dtype");
            let storage = StorageRef { key: "0".into(), dtype, location: "cpu".into(), numel: 16, view_offset: 0 };
            Ok(arena.add(Obj::Storage(Rc::new(storage))))
        });
    });
}

#[test]
fn read_npy_seeds_and_mutations() {
    smoke("read_npy", 5, |d| {
        if let Ok(t) = read_npy_bytes(d, "<smoke>") {
            let h = tchvision::checkpoint::npy::parse_header("<smoke>", d, d.len() as u64).unwrap();
            assert_eq!(t.size(), h.shape);
        }
    });
}

#[test]
fn safetensors_header_seeds_and_mutations() {
    smoke("safetensors_header", 3, |d| {
        let Ok(h) = parse_header(Path::new("<smoke>"), d, d.len() as u64) else { return };
        let section = &d[h.data_start as usize..];
        for e in &h.entries {
            let [b, end] = e.data_offsets;
            assert_eq!(
                tensor_from_bytes(&section[b as usize..end as usize], &e.shape, e.kind).unwrap().size(),
                e.shape
            );
        }
    });
}

#[test]
fn decode_image_seeds_and_mutations() {
    smoke("decode_image", 5, |d| {
        if let Ok(img) = decode_rgb(d) {
            assert_eq!(img.size()[0], 3);
            let _ = Preprocess::imagenet(24, 16).apply(&img);
        }
    });
}
