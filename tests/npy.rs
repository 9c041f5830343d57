//! tchvision's own `.npy` reader against numpy: every file numpy.save wrote in
//! scripts/fixtures_npy.py (dtypes, byte orders, Fortran order, 0-d and empty arrays, format
//! 2.0) reads as `torch.from_numpy(np.load(f))`, bit for bit.

mod common;

use common::{fixture, fixtures, json, tensors};
use tchvision::checkpoint::npy::read_npy;

#[test]
fn every_numpy_file_reads_as_torch_from_numpy() {
    let want = tensors("npy/expected.safetensors");
    let names: Vec<String> = serde_json::from_value(json("npy/names.json")).unwrap();
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
        let w = &want[name];
        assert_eq!(got.size(), w.size(), "{name}: shape");
        assert_eq!(got.kind(), w.kind(), "{name}: dtype");
        let real = |t: &tch::Tensor| {
            if matches!(t.kind(), tch::Kind::ComplexFloat | tch::Kind::ComplexDouble) {
                t.view_as_real()
            } else {
                t.shallow_clone()
            }
        };
        assert!(real(&got).equal(&real(w)), "{name}: values differ");
    }
}
