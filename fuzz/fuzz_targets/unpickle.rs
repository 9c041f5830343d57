//! Feeds arbitrary bytes to the restricted unpickler alone (no zip CRC in the way), with a
//! persistent-load hook that turns every persistent id into a small float storage, so the
//! tensor-rebuilding calls are exercised too.
#![no_main]

use std::rc::Rc;

use libfuzzer_sys::fuzz_target;
use tchvision::checkpoint::pickle::{self, DType, Obj, StorageRef};

fuzz_target!(|data: &[u8]| {
    let _ = pickle::load(data, "<fuzz>", &mut |arena, _pid| {
        let dtype = DType::from_name("float32").expect("float32 is a dtype");
        let storage = StorageRef { key: "0".into(), dtype, location: "cpu".into(), numel: 16, view_offset: 0 };
        Ok(arena.add(Obj::Storage(Rc::new(storage))))
    });
});
