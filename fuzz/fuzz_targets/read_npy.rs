//! Feeds arbitrary bytes to tchvision's own `.npy` reader: it must return `Ok` or `Err`, never
//! panic, abort, read past the input or allocate beyond what the input holds (the tensor's bytes
//! must all be in the file). On success the tensor must hold exactly the header's shape.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tchvision::checkpoint::npy::{parse_header, read_npy_bytes};

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = read_npy_bytes(data, "<fuzz>") {
        let h = parse_header("<fuzz>", data, data.len() as u64).expect("a file that reads has a valid header");
        assert_eq!(t.size(), h.shape);
        assert_eq!(t.kind(), h.kind);
    }
});
