//! Feeds arbitrary bytes to the safetensors header parser and validator, then builds each tensor
//! of a header that validates from the data section: never a panic, never a read past the input,
//! never an allocation the data section does not hold.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tchvision::checkpoint::safetensors::{parse_header, tensor_from_bytes};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = parse_header(Path::new("<fuzz>"), data, data.len() as u64) else { return };
    let section = &data[header.data_start as usize..];
    for e in &header.entries {
        let [b, end] = e.data_offsets;
        let bytes = &section[b as usize..end as usize];
        let t = tensor_from_bytes(bytes, &e.shape, e.kind).expect("a validated entry builds");
        assert_eq!(t.size(), e.shape);
    }
});
