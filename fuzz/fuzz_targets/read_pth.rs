//! Feeds arbitrary bytes to the `.pth` reader (zip, legacy and tar formats): it must return
//! `Ok` or `Err`, never panic, abort, hang or allocate beyond what the input justifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tchvision::checkpoint::{read_pth_bytes, ReadOptions};

fuzz_target!(|data: &[u8]| {
    let _ = read_pth_bytes(data, &ReadOptions::default());
});
