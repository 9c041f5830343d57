//! The pure-Rust `.pth` reader and writer against PyTorch itself.
//!
//! Fixtures (scripts/fixtures_checkpoint.py) are checkpoints torch.save wrote in every format,
//! pickle protocol and dtype, with the values torch.load reads back from them; hostile and
//! corrupt files torch refuses. The writer is checked by Python's
//! `torch.load(path, weights_only=True)`.

mod common;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use tch::{Device, Kind, Tensor};
use tchvision::checkpoint::pickle::DType;
use tchvision::checkpoint::{self, read, read_pth, read_pth_bytes, save_pth, Format, ReadOptions};
use tchvision::Error;

fn dtype_name(t: &Tensor) -> &'static str {
    DType::from_kind(t.kind()).map(|d| d.name).unwrap_or("?")
}

/// The raw bytes of a tensor's elements, in order.
fn bytes(t: &Tensor) -> Vec<u8> {
    let flat = t.to_device(Device::Cpu).contiguous().reshape([-1]);
    let flat = if flat.kind() == Kind::Uint8 { flat } else { flat.view_dtype(Kind::Uint8) };
    Vec::<u8>::try_from(&flat).unwrap()
}

/// The address of the first byte of a tensor's storage.
fn storage_ptr(t: &Tensor) -> usize {
    if t.numel() == 0 {
        return 0;
    }
    t.as_strided([1], [1], Some(0)).data_ptr() as usize
}

/// Checks a read checkpoint against the fixture `<name>.json` / `<name>.safetensors` that
/// torch.load produced.
fn check_against_torch(name: &str, ck: &checkpoint::Checkpoint) {
    check_values_against_torch(name, ck);
    check_sharing_against_torch(name, ck);
}

/// Keys, dtypes, shapes, values and other entries against torch.load's.
fn check_values_against_torch(name: &str, ck: &checkpoint::Checkpoint) {
    let meta = common::json(&format!("checkpoint/{name}.json"));
    let expected = common::tensors(&format!("checkpoint/{name}.safetensors"));
    assert_eq!(ck.format.to_string(), meta["format"].as_str().unwrap(), "{name}: format");
    let keys: Vec<&str> = meta["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(ck.keys().collect::<Vec<_>>(), keys, "{name}: keys and their order");
    for (i, (key, t)) in ck.tensors.iter().enumerate() {
        let what = format!("{name}: {key}");
        assert_eq!(dtype_name(t), meta["dtypes"][i].as_str().unwrap(), "{what}: dtype");
        let shape: Vec<i64> = meta["shapes"][i].as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).collect();
        assert_eq!(t.size(), shape, "{what}: shape");
        let want = &expected[key];
        if meta["raw"][i].as_bool().unwrap() {
            assert_eq!(bytes(t), Vec::<u8>::try_from(want).unwrap(), "{what}: bytes");
        } else {
            assert_eq!(t.kind(), want.kind(), "{what}: kind");
            assert_eq!(bytes(t), bytes(want), "{what}: values differ bitwise");
            if !t.is_floating_point() {
                assert!(t.equal(want), "{what}: values");
            }
        }
    }
    let other: Vec<(String, String)> = meta["other"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(ck.other, other, "{name}: other entries");
    assert_eq!(ck.state_dict_key.as_deref(), meta["state_dict_key"].as_str(), "{name}: state dict key");
}

/// Storage sharing against torch.load's.
fn check_sharing_against_torch(name: &str, ck: &checkpoint::Checkpoint) {
    let meta = common::json(&format!("checkpoint/{name}.json"));
    // Tensors that shared a storage in torch share one here; the others do not.
    let ptrs: HashMap<&str, usize> = ck.tensors.iter().map(|(k, t)| (k.as_str(), storage_ptr(t))).collect();
    let mut grouped = std::collections::HashSet::new();
    for group in meta["shared"].as_array().unwrap() {
        let g: Vec<&str> = group.as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
        for k in &g {
            assert_eq!(ptrs[k], ptrs[g[0]], "{name}: {k} and {} should share a storage", g[0]);
            grouped.insert(ptrs[k]);
        }
    }
    let mut singles = std::collections::HashSet::new();
    for (k, p) in &ptrs {
        if *p != 0 && !grouped.contains(p) {
            assert!(singles.insert(*p), "{name}: {k} shares a storage torch did not share");
        }
    }
}

fn read_fixture(name: &str, opts: &ReadOptions) -> checkpoint::Checkpoint {
    let path = common::fixture(&format!("checkpoint/{name}.pth"));
    read_pth(&path, opts).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_format_protocol_and_dtype_reads_as_torch_reads_it() {
    let opts = ReadOptions::default();
    for fmt in ["zip", "legacy"] {
        for proto in 2..=5 {
            let name = format!("full_{fmt}_p{proto}");
            check_against_torch(&name, &read_fixture(&name, &opts));
        }
    }
    for name in ["model_zip", "model_legacy", "params_zip", "tar_format", "deflated_zip", "big_endian_zip"] {
        check_against_torch(name, &read_fixture(name, &opts));
    }
}

#[test]
fn shared_storages_stay_shared() {
    let ck = read_fixture("full_zip_p2", &ReadOptions::default());
    let (a, b, v) = (ck.get("tied_a").unwrap(), ck.get("tied_b").unwrap(), ck.get("tied_view").unwrap());
    let before = bytes(v);
    let _guard = tch::no_grad_guard();
    let mut a = a.shallow_clone();
    let _ = a.fill_(42.0);
    assert_eq!(bytes(b), bytes(&a), "writing tied_a changes tied_b");
    assert_ne!(bytes(v), before, "writing tied_a changes the view tied_view");
    assert!(v.eq(42.0).all().int64_value(&[]) == 1);
    // A transposed and a stepped view of `base` read the same memory.
    let base = ck.get("base").unwrap();
    let mut t = ck.get("transposed").unwrap().shallow_clone();
    let _ = t.fill_(-1.0);
    assert!(base.eq(-1.0).all().int64_value(&[]) == 1);
}

#[test]
fn nested_checkpoints_find_the_state_dict() {
    let opts = ReadOptions::default();
    for (name, key) in [
        ("nested_state_dict", "state_dict"),
        ("nested_model", "model"),
        ("nested_model_state_dict", "model_state_dict"),
        ("nested_net", "net"),
    ] {
        let ck = read_fixture(name, &opts);
        assert_eq!(ck.state_dict_key.as_deref(), Some(key));
        check_against_torch(name, &ck);
    }
    // `module.` is kept when asked to.
    let ck = read_fixture("nested_state_dict", &ReadOptions::default().strip_module_prefix(false));
    assert!(ck.keys().all(|k| k.starts_with("module.")), "{:?}", ck.keys().collect::<Vec<_>>());
    // An explicit (dotted) key, and a missing one.
    let ck = read_fixture("nested_dotted", &ReadOptions::default().state_dict_key("ema.model"));
    check_against_torch("nested_dotted", &ck);
    let path = common::fixture("checkpoint/nested_dotted.pth");
    let err = read_pth(&path, &ReadOptions::default().state_dict_key("nope")).unwrap_err();
    assert!(err.to_string().contains("nope") && err.to_string().contains("ema"), "{err}");
}

/// CUDA checkpoints: torch.save with a patched location tag (zip, legacy), a legacy file written
/// by hand as a GPU machine's torch wrote it (`torch.cuda.FloatStorage`, `cuda:0` and `cuda:1`),
/// and, when the fixtures were made on a GPU machine, files torch saved from CUDA tensors.
#[test]
fn cuda_tagged_storages_load_on_the_requested_device() {
    let names = common::strings(&common::json("checkpoint/cuda_files.json"));
    assert!(names.iter().any(|n| n == "cuda_legacy_hand"), "{names:?}");
    let raw = std::fs::read(common::fixture("checkpoint/cuda_legacy_hand.pth")).unwrap();
    let has = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"torch.cuda") && has(b"FloatStorage") && has(b"cuda:1"), "a GPU machine's storage classes");
    let mut covered = Vec::new();
    for name in &names {
        let name = name.as_str();
        covered.push(name);
        let ck = read_fixture(name, &ReadOptions::default());
        assert!(ck.tensors.iter().all(|(_, t)| t.device() == Device::Cpu));
        check_against_torch(name, &ck);
        if tch::Cuda::is_available() {
            let ck = read_fixture(name, &ReadOptions::default().device(Device::Cuda(0)));
            assert!(ck.tensors.iter().all(|(_, t)| t.device() == Device::Cuda(0)));
            check_against_torch(name, &ck);
        } else {
            common::skip(&format!("{name}: CUDA is not available, the load onto cuda:0 is not tried"));
        }
    }
    common::assert_covered("CUDA checkpoints", covered, &names);
}

#[test]
fn hostile_pickles_are_refused_naming_the_global() {
    let hostile = common::json("checkpoint/hostile.json");
    let mut covered = Vec::new();
    for (file, global) in hostile.as_object().unwrap() {
        covered.push(file.clone());
        let path = common::fixture(&format!("checkpoint/{file}"));
        match read_pth(&path, &ReadOptions::default()) {
            Err(Error::ForbiddenGlobal { global: g, .. }) => assert_eq!(g, global.as_str().unwrap(), "{file}"),
            Err(e) => panic!("{file}: wrong error {e}"),
            Ok(_) => panic!("{file}: hostile file accepted"),
        }
    }
    common::assert_covered("hostile files", covered, fixture_files("hostile_"));
}

/// The names of the fixture files `checkpoint/<prefix>*.pth`, from the folder itself.
fn fixture_files(prefix: &str) -> Vec<String> {
    std::fs::read_dir(common::fixtures().join("checkpoint"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".pth"))
        .collect()
}

#[test]
fn corrupt_files_give_errors() {
    let corrupt = common::json("checkpoint/corrupt.json");
    common::assert_covered("corrupt files", common::strings(&corrupt), fixture_files("corrupt_"));
    for file in corrupt.as_array().unwrap() {
        let file = file.as_str().unwrap();
        let path = common::fixture(&format!("checkpoint/{file}"));
        match read_pth(&path, &ReadOptions::default()) {
            Err(Error::Format { message, .. }) => println!("{file}: {message}"),
            Err(e) => panic!("{file}: expected a Format error, got {e}"),
            Ok(_) => panic!("{file}: corrupt file accepted"),
        }
    }
    let msg = |f: &str| {
        read_pth(&common::fixture(&format!("checkpoint/{f}")), &ReadOptions::default()).unwrap_err().to_string()
    };
    assert!(msg("corrupt_short_storage_zip.pth").contains("bytes"), "{}", msg("corrupt_short_storage_zip.pth"));
    assert!(
        msg("corrupt_oversize_view_zip.pth").contains("holds 6 elements"),
        "{}",
        msg("corrupt_oversize_view_zip.pth")
    );
    assert!(msg("corrupt_short_storage_legacy.pth").contains("`w`"), "{}", msg("corrupt_short_storage_legacy.pth"));
}

/// A tiny deterministic RNG (xorshift64*).
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

fn mutate(rng: &mut Rng, src: &[u8]) -> Vec<u8> {
    let mut v = src.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 => {
                let i = rng.below(v.len());
                if let Some(b) = v.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 => {
                let n = rng.below(v.len() + 1);
                v.truncate(n);
            }
            2 => {
                let i = rng.below(v.len() + 1);
                let junk: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                v.splice(i..i, junk);
            }
            3 => {
                // Overwrite with a boundary value: huge lengths, counts and offsets.
                let i = rng.below(v.len());
                let vals: [&[u8]; 4] = [&[0xff; 8], &[0x7f, 0xff, 0xff, 0xff], &[0; 4], &[0x80, 0, 0, 0, 0, 0, 0, 0]];
                let val = vals[rng.below(vals.len())];
                for (j, b) in val.iter().enumerate() {
                    if let Some(x) = v.get_mut(i + j) {
                        *x = *b;
                    }
                }
            }
            4 => {
                let i = rng.below(v.len());
                let n = rng.below(16);
                let end = (i + n).min(v.len());
                v.drain(i..end);
            }
            _ => {
                let i = rng.below(v.len());
                if let Some(b) = v.get_mut(i) {
                    *b = rng.next() as u8;
                }
            }
        }
    }
    v
}

#[test]
fn fuzz_smoke_mutated_fixtures_never_panic() {
    let seeds = [
        "full_zip_p2",
        "full_legacy_p2",
        "full_legacy_p4",
        "full_zip_p5",
        "model_zip",
        "nested_state_dict",
        "tar_format",
        "cuda_legacy",
        "big_endian_zip",
        "deflated_zip",
        "params_zip",
    ];
    let files: Vec<Vec<u8>> =
        seeds.iter().map(|s| std::fs::read(common::fixture(&format!("checkpoint/{s}.pth"))).unwrap()).collect();
    let opts = ReadOptions::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut errs, mut slowest) = (0, 0, Duration::ZERO);
    let start = Instant::now();
    for i in 0..4000 {
        let src = &files[i % files.len()];
        let data = mutate(&mut rng, src);
        let t0 = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| read_pth_bytes(&data, &opts).map(|c| c.tensors.len())));
        let took = t0.elapsed();
        slowest = slowest.max(took);
        match r {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(_)) => errs += 1,
            Err(_) => {
                let dump = std::env::temp_dir().join(format!("checkpoint_pth_fuzz_{i}.pth"));
                std::fs::write(&dump, &data).unwrap();
                panic!("mutation {i} of {} panicked (saved to {})", seeds[i % seeds.len()], dump.display());
            }
        }
        assert!(took < Duration::from_secs(5), "mutation {i} took {took:?}");
    }
    println!("fuzz smoke: {ok} read, {errs} refused, slowest {slowest:?}, total {:?}", start.elapsed());
    assert!(errs > 0 && ok > 0);
}

/// The records of a zip whose records are stored (uncompressed), from its central directory:
/// (name, bytes), in order. Enough for torch's zip checkpoints; panics on anything else.
fn zip_records(z: &[u8]) -> Vec<(String, Vec<u8>)> {
    let u16_at = |i: usize| u16::from_le_bytes([z[i], z[i + 1]]) as usize;
    let u32_at = |i: usize| u32::from_le_bytes([z[i], z[i + 1], z[i + 2], z[i + 3]]) as usize;
    let eocd = (0..=z.len() - 22).rev().find(|&i| z[i..i + 4] == *b"PK\x05\x06").expect("end of central directory");
    let (count, mut at) = (u16_at(eocd + 10), u32_at(eocd + 16));
    let mut out = Vec::new();
    for _ in 0..count {
        assert_eq!(z[at..at + 4], *b"PK\x01\x02", "central directory entry");
        assert_eq!(u16_at(at + 10), 0, "stored records only");
        let (size, name_len, extra, comment) = (u32_at(at + 20), u16_at(at + 28), u16_at(at + 30), u16_at(at + 32));
        let name = String::from_utf8(z[at + 46..at + 46 + name_len].to_vec()).unwrap();
        let local = u32_at(at + 42);
        let data = local + 30 + u16_at(local + 26) + u16_at(local + 28);
        out.push((name, z[data..data + size].to_vec()));
        at += 46 + name_len + extra + comment;
    }
    out
}

/// A zip of stored records with correct CRC-32s and sizes (no alignment padding).
fn zip_bytes(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in records {
        let crc = crc32fast::hash(data);
        let offset = out.len() as u32;
        let header = |sig: &[u8], central: bool| {
            let mut h = sig.to_vec();
            if central {
                h.extend(20u16.to_le_bytes()); // version made by
            }
            h.extend(20u16.to_le_bytes()); // version needed
            h.extend([0u8; 6]); // flags, method (stored), time
            h.extend([0u8; 2]); // date
            h.extend(crc.to_le_bytes());
            h.extend((data.len() as u32).to_le_bytes());
            h.extend((data.len() as u32).to_le_bytes());
            h.extend((name.len() as u16).to_le_bytes());
            h.extend(0u16.to_le_bytes()); // extra
            if central {
                h.extend([0u8; 6]); // comment length, disk, internal attributes
                h.extend([0u8; 4]); // external attributes
                h.extend(offset.to_le_bytes());
            }
            h.extend(name.as_bytes());
            h
        };
        out.extend(header(b"PK\x03\x04", false));
        out.extend(data);
        central.extend(header(b"PK\x01\x02", true));
    }
    let cd_offset = out.len() as u32;
    out.extend(&central);
    out.extend(b"PK\x05\x06");
    out.extend([0u8; 4]);
    out.extend((records.len() as u16).to_le_bytes());
    out.extend((records.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

/// The stable form of the `unpickle` fuzz target: the pickles of the zip fixtures, mutated
/// directly (the mutated whole files of the test above mostly stop at the zip's CRC-32), fed
/// to the unpickler alone (with the fuzz target's persistent-load hook) and, inside a zip with
/// correct CRC-32s, to the whole reader. Neither may panic or take long; the reader's errors are
/// the pickle's, never a CRC mismatch.
#[test]
fn fuzz_smoke_mutated_pickles_reach_the_unpickler() {
    use tchvision::checkpoint::pickle::{self, Obj, StorageRef};
    let seeds =
        ["full_zip_p2", "full_zip_p5", "model_zip", "nested_state_dict", "params_zip", "big_endian_zip", "cuda_zip"];
    let mut sources = Vec::new();
    for s in seeds {
        let file = std::fs::read(common::fixture(&format!("checkpoint/{s}.pth"))).unwrap();
        let records = zip_records(&file);
        let pkl = records.iter().position(|(n, _)| n.ends_with("/data.pkl")).expect("data.pkl");
        // Re-zipped unchanged, the file reads as the original: what changes below is the pickle.
        let again = read_pth_bytes(&zip_bytes(&records), &ReadOptions::default()).unwrap();
        let orig = read_pth_bytes(&file, &ReadOptions::default()).unwrap();
        assert_eq!(again.keys().collect::<Vec<_>>(), orig.keys().collect::<Vec<_>>(), "{s}: re-zipped");
        for ((k, a), (_, b)) in again.tensors.iter().zip(&orig.tensors) {
            assert_eq!(bytes(a), bytes(b), "{s}: {k} re-zipped");
        }
        sources.push((s, records, pkl));
    }
    let mut hook = |arena: &mut pickle::Arena, _pid: pickle::Value| -> tchvision::Result<pickle::Value> {
        let dtype = DType::from_name("float32").expect("float32 is a dtype");
        let storage = StorageRef { key: "0".into(), dtype, location: "cpu".into(), numel: 16, view_offset: 0 };
        Ok(arena.add(Obj::Storage(std::rc::Rc::new(storage))))
    };
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let (mut alone, mut read_ok, mut read_err, mut slowest) = ([0usize; 2], 0, 0, Duration::ZERO);
    for i in 0..3000 {
        let (seed, records, pkl) = &sources[i % sources.len()];
        let data = mutate(&mut rng, &records[*pkl].1);
        let t0 = Instant::now();
        match catch_unwind(AssertUnwindSafe(|| pickle::load(&data, "<smoke>", &mut hook).is_ok())) {
            Ok(ok) => alone[ok as usize] += 1,
            Err(_) => panic!("unpickling mutation {i} of {seed}'s pickle panicked: {data:?}"),
        }
        let mut rec = records.clone();
        rec[*pkl].1 = data;
        let z = zip_bytes(&rec);
        match catch_unwind(AssertUnwindSafe(|| read_pth_bytes(&z, &ReadOptions::default()).map(|c| c.tensors.len()))) {
            Ok(Ok(_)) => read_ok += 1,
            Ok(Err(e)) => {
                let msg = e.to_string();
                assert!(!msg.to_ascii_lowercase().contains("crc"), "mutation {i} of {seed}: a CRC error: {msg}");
                read_err += 1;
            }
            Err(_) => {
                let dump = std::env::temp_dir().join(format!("checkpoint_pth_pickle_fuzz_{i}.pth"));
                std::fs::write(&dump, &z).unwrap();
                panic!("reading mutation {i} of {seed}'s pickle panicked (saved to {})", dump.display());
            }
        }
        let took = t0.elapsed();
        slowest = slowest.max(took);
        assert!(took < Duration::from_secs(5), "mutation {i} of {seed} took {took:?}");
    }
    println!(
        "pickle fuzz smoke: unpickler {} ok / {} refused; reader {read_ok} ok / {read_err} refused; slowest {slowest:?}",
        alone[1], alone[0]
    );
    // Both outcomes happen at both levels: the mutations reach the unpickler's logic.
    assert!(alone[0] > 0 && alone[1] > 0 && read_ok > 0 && read_err > 0);
}

#[test]
fn hostile_sizes_are_bounded() {
    let opts = ReadOptions::default();
    // A legacy file whose storage claims 2^60 elements, a pickle string of 2^31 bytes, a
    // LONG_BINGET of an absent memo entry, deep MARK nesting.
    let head = {
        let mut v = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
        v.extend_from_slice(b"\x80\x02M\xe9\x03.\x80\x02}.");
        v
    };
    let mut huge = head.clone();
    huge.extend_from_slice(
        b"\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x10tQK\x00K\x02\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtRs.\x80\x02]X\x01\x00\x00\x000a.",
    );
    huge.extend_from_slice(&(1u64 << 60).to_le_bytes());
    huge.extend_from_slice(&[0; 64]);
    for (what, data) in [
        ("huge storage", huge),
        ("huge string", [head.clone(), b"\x80\x02X\xff\xff\xff\x7f".to_vec()].concat()),
        ("absent memo", [head.clone(), b"\x80\x02j\x00\x00\x00\x10.".to_vec()].concat()),
        ("deep nesting", [head.clone(), vec![b'('; 100_000]].concat()),
        ("stack underflow", [head.clone(), b"\x80\x02s.".to_vec()].concat()),
        ("memo amplification", [head.clone(), amplification()].concat()),
    ] {
        let t0 = Instant::now();
        let r = read_pth_bytes(&data, &opts);
        assert!(matches!(r, Err(Error::Format { .. })), "{what}: {r:?}");
        println!("{what}: refused in {:?}: {}", t0.elapsed(), r.unwrap_err());
        assert!(t0.elapsed() < Duration::from_secs(3), "{what}");
    }
}

/// A pickle that asks for `OrderedDict(memo[0])` 100 000 times, memo[0] a dict of 10 000
/// items: linear in size, quadratic in work for a naive unpickler.
fn amplification() -> Vec<u8> {
    let mut p = b"\x80\x02}q\x00(".to_vec();
    for i in 0..10_000u16 {
        p.push(b'M');
        p.extend_from_slice(&i.to_le_bytes());
        p.extend_from_slice(b"K\x00");
    }
    p.extend_from_slice(b"uccollections\nOrderedDict\nq\x01");
    for _ in 0..100_000 {
        p.extend_from_slice(b"h\x01h\x00\x85R0");
    }
    p.push(b'.');
    p
}

/// Tensors of every savable dtype and awkward shapes, deterministic.
fn writer_tensors() -> Vec<(String, Tensor)> {
    tch::manual_seed(7);
    let base = Tensor::randn([4, 6], (Kind::Float, Device::Cpu));
    let mut v: Vec<(String, Tensor)> = vec![
        ("conv.weight".into(), Tensor::randn([2, 3, 3, 3], (Kind::Float, Device::Cpu))),
        ("f64".into(), Tensor::randn([5], (Kind::Double, Device::Cpu))),
        ("f16".into(), Tensor::randn([3, 2], (Kind::Float, Device::Cpu)).to_kind(Kind::Half)),
        ("bf16".into(), Tensor::randn([3], (Kind::Float, Device::Cpu)).to_kind(Kind::BFloat16)),
        ("i64".into(), Tensor::from_slice(&[i64::MIN, -1, 0, 1 << 40, i64::MAX])),
        ("i32".into(), Tensor::from_slice(&[i32::MIN, 7, i32::MAX])),
        ("i16".into(), Tensor::from_slice(&[-3i16, 300])),
        ("i8".into(), Tensor::from_slice(&[-128i8, 127])),
        ("u8".into(), Tensor::from_slice(&[0u8, 255, 7])),
        ("mask".into(), Tensor::from_slice(&[true, false, true])),
        ("c64".into(), Tensor::randn([3], (Kind::ComplexFloat, Device::Cpu))),
        ("special".into(), Tensor::from_slice(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 1e-45])),
        ("bn.num_batches_tracked".into(), Tensor::from(12i64)),
        ("scalar".into(), Tensor::from(2.5f64)),
        ("empty".into(), Tensor::zeros([0, 4], (Kind::Float, Device::Cpu))),
        ("transposed".into(), base.tr()),
        ("stepped".into(), base.slice(1, 1, 6, 2)),
        ("tied".into(), base.shallow_clone()),
        ("ünïcode.key".into(), Tensor::from_slice(&[1.0f32])),
        ("big".into(), Tensor::arange(70_000, (Kind::Int64, Device::Cpu)).reshape([7, 10_000])),
    ];
    for i in 0..1100 {
        v.push((format!("many.{i}"), Tensor::from(i as i64)));
    }
    v
}

#[test]
fn written_pth_files_load_in_torch() {
    let dir = tempfile::tempdir().unwrap();
    let tensors = writer_tensors();
    let pth = dir.path().join("written.pth");
    save_pth(&pth, &tensors).unwrap();

    // The expected values, written independently through tch's safetensors writer
    // (complex as view_as_real, which safetensors cannot hold).
    let expected: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(k, t)| (k.clone(), if t.kind() == Kind::ComplexFloat { t.view_as_real() } else { t.contiguous() }))
        .collect();
    let st = dir.path().join("expected.safetensors");
    Tensor::write_safetensors(&expected, &st).unwrap();
    let meta = serde_json::json!({
        "keys": tensors.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        "dtypes": tensors.iter().map(|(_, t)| dtype_name(t)).collect::<Vec<_>>(),
    });
    let meta_path = dir.path().join("meta.json");
    std::fs::write(&meta_path, meta.to_string()).unwrap();

    let script = r#"
import json, sys, zipfile, torch
from safetensors.torch import load_file
pth, st, meta = sys.argv[1:4]
meta = json.load(open(meta))
sd = torch.load(pth, weights_only=True)
assert type(sd).__name__ == "OrderedDict", type(sd)
assert list(sd.keys()) == meta["keys"], "key order"
exp = load_file(st)
for k, dt in zip(meta["keys"], meta["dtypes"]):
    t = sd[k]
    assert str(t.dtype) == "torch." + dt, (k, t.dtype, dt)
    x = torch.view_as_real(t) if t.is_complex() else t
    y = exp[k]
    assert x.shape == y.shape and x.dtype == y.dtype, (k, x.shape, y.shape)
    assert torch.equal(x.contiguous().reshape(-1).view(torch.uint8), y.contiguous().reshape(-1).view(torch.uint8)), k
names = zipfile.ZipFile(pth).namelist()
assert "archive/data.pkl" in names and "archive/byteorder" in names and "archive/version" in names, names
print("OK", len(sd))
"#;
    let out = std::process::Command::new(common::python())
        .arg("-c")
        .arg(script)
        .arg(&pth)
        .arg(&st)
        .arg(&meta_path)
        .output()
        .expect("running python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), format!("OK {}", tensors.len()));

    // And our reader reads it back the same.
    let ck = read_pth(&pth, &ReadOptions::default()).unwrap();
    assert_eq!(ck.format, Format::Zip);
    assert_eq!(ck.tensors.len(), tensors.len());
    for ((k, a), (k2, b)) in ck.tensors.iter().zip(&tensors) {
        assert_eq!(k, k2);
        assert_eq!(a.kind(), b.kind(), "{k}");
        assert_eq!(bytes(a), bytes(b), "{k}");
    }
}

#[test]
fn save_is_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.pth");
    save_pth(&path, &[("w".into(), Tensor::from_slice(&[1.0f32, 2.0]))]).unwrap();
    let before = std::fs::read(&path).unwrap();
    // A quantized tensor has no torch storage type this writer supports: the save fails.
    let q = Tensor::from_slice(&[0.5f32, 1.0]).quantize_per_tensor(0.1, 0, Kind::QInt8);
    let bad = vec![("a".to_string(), Tensor::from_slice(&[3.0f32])), ("q".to_string(), q)];
    let err = save_pth(&path, &bad).unwrap_err();
    assert!(err.to_string().contains("`q`"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "the old file is untouched");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("model.pth")], "no temporary file is left");
    // A folder that does not exist.
    let err = save_pth(&dir.path().join("missing/x.pth"), &[]).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[test]
fn read_dispatches_on_content() {
    let dir = tempfile::tempdir().unwrap();
    // A zip checkpoint under a misleading extension is still read as one.
    let src = common::fixture("checkpoint/model_legacy.pth");
    let odd = dir.path().join("weights.bin");
    std::fs::copy(&src, &odd).unwrap();
    let ck = read(&odd, &ReadOptions::default()).unwrap();
    assert_eq!(ck.format, Format::Legacy);
    check_against_torch("model_legacy", &ck);
    // A safetensors file goes to the safetensors reader.
    let st = dir.path().join("t.safetensors");
    Tensor::write_safetensors(&[("a", Tensor::from_slice(&[1.0f32, 2.0]))], &st).unwrap();
    let ck = read(&st, &ReadOptions::default()).unwrap();
    assert_eq!(ck.format, Format::Safetensors);
    assert_eq!(ck.keys().collect::<Vec<_>>(), vec!["a"]);
    let not_st = dir.path().join("t2");
    std::fs::copy(&st, &not_st).unwrap();
    assert_eq!(read(&not_st, &ReadOptions::default()).unwrap().format, Format::Safetensors);
}

/// Every `.pth` fixture that reads successfully (all formats and dtypes).
const READABLE: &[&str] = &[
    "full_zip_p2",
    "full_zip_p3",
    "full_zip_p4",
    "full_zip_p5",
    "full_legacy_p2",
    "full_legacy_p3",
    "full_legacy_p4",
    "full_legacy_p5",
    "model_zip",
    "model_legacy",
    "params_zip",
    "tar_format",
    "deflated_zip",
    "big_endian_zip",
    "cuda_zip",
    "cuda_legacy",
    "nested_state_dict",
    "nested_model",
    "nested_model_state_dict",
    "nested_net",
    "nested_dotted",
];

#[test]
fn mmap_reads_equal_eager_reads_and_torchs_values() {
    let eager = ReadOptions::default();
    let lazy = ReadOptions::default().mmap(true);
    for name in READABLE {
        let (eager, lazy) = match *name {
            "nested_dotted" => (eager.clone().state_dict_key("ema.model"), lazy.clone().state_dict_key("ema.model")),
            _ => (eager.clone(), lazy.clone()),
        };
        let a = read_fixture(name, &eager);
        let b = read_fixture(name, &lazy);
        assert_eq!(a.format, b.format, "{name}");
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{name}: keys");
        assert_eq!(a.other, b.other, "{name}: other entries");
        assert_eq!(a.state_dict_key, b.state_dict_key, "{name}");
        for ((key, x), (_, y)) in a.tensors.iter().zip(&b.tensors) {
            assert_eq!(x.kind(), y.kind(), "{name}: {key}: kind");
            assert_eq!(x.size(), y.size(), "{name}: {key}: shape");
            assert_eq!(x.stride(), y.stride(), "{name}: {key}: strides");
            assert_eq!(y.device(), Device::Cpu, "{name}: {key}");
            assert_eq!(bytes(x), bytes(y), "{name}: {key}: values differ bitwise");
        }
        // And against torch.load's values directly (not only against our eager read).
        check_values_against_torch(name, &b);
        // A torch.save zip file with aligned, stored, little-endian records is read lazily:
        // every tensor is a view of the one mapped file.
        if name.starts_with("full_zip") || *name == "model_zip" || *name == "params_zip" {
            let ptrs: std::collections::HashSet<usize> =
                b.tensors.iter().filter(|(_, t)| t.numel() > 0).map(|(_, t)| storage_ptr(t)).collect();
            assert_eq!(ptrs.len(), 1, "{name}: the lazily read tensors should share the file's mapping");
        }
    }
    // Corrupt files are refused the same way.
    for file in common::json("checkpoint/corrupt.json").as_array().unwrap() {
        let file = file.as_str().unwrap();
        let r = read_pth(&common::fixture(&format!("checkpoint/{file}")), &lazy);
        assert!(matches!(r, Err(Error::Format { .. })), "{file}: {r:?}");
    }
    // `read` sends safetensors files to the mapped reader.
    let st = common::fixture("checkpoint/full_zip_p2.safetensors");
    let (a, b) = (read(&st, &eager).unwrap(), read(&st, &lazy).unwrap());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for ((key, x), (_, y)) in a.tensors.iter().zip(&b.tensors) {
        assert_eq!(bytes(x), bytes(y), "safetensors: {key}");
    }
    let ptrs: std::collections::HashSet<usize> =
        b.tensors.iter().filter(|(_, t)| t.numel() > 0).map(|(_, t)| storage_ptr(t)).collect();
    assert_eq!(ptrs.len(), 1, "safetensors: the lazily read tensors should share the file's mapping");
}

#[test]
fn writing_into_mmap_tensors_never_changes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.pth");
    std::fs::copy(common::fixture("checkpoint/full_zip_p2.pth"), &path).unwrap();
    let original = std::fs::read(&path).unwrap();
    let eager = read_pth(&path, &ReadOptions::default()).unwrap();
    let lazy = read_pth(&path, &ReadOptions::default().mmap(true)).unwrap();
    {
        let _guard = tch::no_grad_guard();
        for (_, t) in &lazy.tensors {
            let _ = t.shallow_clone().fill_(1.0);
        }
    }
    for (key, t) in &lazy.tensors {
        assert!(t.numel() == 0 || t.eq(1.0).all().int64_value(&[]) == 1, "{key}: the write did not happen");
    }
    assert!(std::fs::read(&path).unwrap() == original, "writing into the tensors changed the file");
    // Nor the page cache: a new lazy read (and an eager one) sees the file's values.
    drop(lazy);
    for opts in [ReadOptions::default().mmap(true), ReadOptions::default()] {
        let again = read_pth(&path, &opts).unwrap();
        for ((key, x), (_, y)) in eager.tensors.iter().zip(&again.tensors) {
            assert_eq!(bytes(x), bytes(y), "{key}: changed after writing into a mapped copy");
        }
    }
}

#[test]
fn mmap_copies_misaligned_records() {
    // Python's zipfile, unlike torch.save, does not align stored records: most of them land at
    // offsets that are not multiples of their element size, and are copied instead of viewed.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("unaligned.pth");
    let script = r#"
import sys, zipfile
src, dst = sys.argv[1:3]
with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zo:
    for info in zi.infolist():
        zo.writestr(info.filename, zi.read(info.filename))
"#;
    let src = common::fixture("checkpoint/full_zip_p2.pth");
    let status = std::process::Command::new(common::python()).arg("-c").arg(script).arg(&src).arg(&out).status();
    assert!(status.unwrap().success(), "rezipping with python failed");
    let ck = read_pth(&out, &ReadOptions::default().mmap(true)).unwrap();
    check_values_against_torch("full_zip_p2", &ck);
    let ptrs: std::collections::HashSet<usize> =
        ck.tensors.iter().filter(|(_, t)| t.numel() > 0).map(|(_, t)| storage_ptr(t)).collect();
    assert!(ptrs.len() > 1, "misaligned records should have been copied out of the mapping");
}

#[test]
fn files_saved_without_crc32_load_as_in_torch() {
    // `torch.serialization.set_crc32_options(False)` makes torch.save write a CRC-32 of 0 for
    // every record; torch.load reads such files, and so must we (eagerly and lazily).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nocrc.pth");
    let script = r#"
import sys, torch, zipfile
torch.serialization.set_crc32_options(False)
torch.manual_seed(0)
sd = {"w": torch.randn(3, 4), "i": torch.arange(5), "h": torch.randn(7).half()}
torch.save(sd, sys.argv[1])
assert all(i.CRC == 0 for i in zipfile.ZipFile(sys.argv[1]).infolist())
back = torch.load(sys.argv[1], weights_only=True)
assert all(torch.equal(back[k], sd[k]) for k in sd)
for k, v in sd.items():
    print(k, v.contiguous().view(-1).view(torch.uint8).tolist())
"#;
    let run = std::process::Command::new(common::python()).arg("-c").arg(script).arg(&out).output().unwrap();
    assert!(run.status.success(), "python: {}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8(run.stdout).unwrap();
    for opts in [ReadOptions::default(), ReadOptions::default().mmap(true)] {
        let ck = read_pth(&out, &opts).unwrap();
        for line in stdout.lines() {
            let (key, vals) = line.split_once(' ').unwrap();
            let want: Vec<u8> = serde_json::from_str(vals).unwrap();
            assert_eq!(bytes(ck.get(key).unwrap()), want, "{key} (mmap: {})", opts.mmap);
        }
    }
}

#[test]
fn corrupt_storage_bytes_fail_the_crc_check_when_copied() {
    // A storage of 2.4 MB (read in several chunks) with one byte flipped near its end: the
    // eager read, which sums what it copies, refuses it; the lazy read, which reads nothing,
    // accepts it as torch.load does (torch checks no CRC-32 on load).
    let dir = tempfile::tempdir().unwrap();
    let (good, bad) = (dir.path().join("good.pth"), dir.path().join("bad.pth"));
    let script = r#"
import struct, sys, torch, zipfile
torch.manual_seed(0)
torch.save({"big": torch.randn(600_000), "small": torch.arange(3)}, sys.argv[1])
b = bytearray(open(sys.argv[1], "rb").read())
info = next(i for i in zipfile.ZipFile(sys.argv[1]).infolist() if i.filename.endswith("/data/0"))
h = info.header_offset
n, m = struct.unpack("<HH", b[h + 26:h + 30])
b[h + 30 + n + m + info.file_size - 3] ^= 0x40
open(sys.argv[2], "wb").write(b)
"#;
    let run = std::process::Command::new(common::python()).args(["-c", script]).arg(&good).arg(&bad).output().unwrap();
    assert!(run.status.success(), "python: {}", String::from_utf8_lossy(&run.stderr));
    let eager = read_pth(&good, &ReadOptions::default()).unwrap();
    assert_eq!(eager.get("big").unwrap().size(), [600_000]);
    match read_pth(&bad, &ReadOptions::default()) {
        Err(Error::Format { message, .. }) => assert!(message.contains("CRC-32 mismatch"), "{message}"),
        other => panic!("a flipped storage byte was not caught: {other:?}"),
    }
    let lazy = read_pth(&bad, &ReadOptions::default().mmap(true)).unwrap();
    let (a, b) = (eager.get("big").unwrap(), lazy.get("big").unwrap());
    assert_eq!(a.ne_tensor(b).sum(Kind::Int64).int64_value(&[]), 1, "exactly the flipped element differs");
}
