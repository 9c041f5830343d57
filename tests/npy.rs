//! tchvision's own `.npy` reader against numpy: every file numpy.save wrote in
//! scripts/fixtures_npy.py (dtypes, byte orders, Fortran order, 0-d and empty arrays, format
//! 2.0) reads as `torch.from_numpy(np.load(f))`, bit for bit.

mod common;

use common::{fixture, fixtures, json, tensors};
use tchvision::checkpoint::npy::read_npy;
use tchvision::checkpoint::torch_dtype_name;

#[test]
fn every_numpy_file_reads_as_torch_from_numpy() {
    let want = tensors("npy/expected.safetensors");
    let dtypes = json("npy/dtypes.json");
    let names: Vec<String> = dtypes.as_object().unwrap().keys().cloned().collect();
    // The list the fixture script wrote, checked against the files it wrote.
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures().join("npy"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".npy").map(String::from))
        .collect();
    on_disk.sort();
    assert_eq!(names, on_disk);
    assert_eq!(names.len(), 14);
    for name in &names {
        let got = read_npy(fixture(&format!("npy/{name}.npy"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(torch_dtype_name(got.kind()), dtypes[name], "{name}: dtype");
        // Complex values are stored as torch.view_as_real.
        let got = if matches!(got.kind(), tch::Kind::ComplexFloat | tch::Kind::ComplexDouble) {
            got.view_as_real()
        } else {
            got
        };
        let w = &want[name];
        assert_eq!(got.size(), w.size(), "{name}: shape");
        assert!(got.equal(w), "{name}: values differ");
    }
}
