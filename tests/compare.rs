//! The comparison helpers of tests/common fail when they should: a NaN (anywhere, as torch's
//! `allclose(equal_nan=False)`), an Inf where torch is finite, a value 2× past the tolerance, a
//! shape or a dtype that differs; and they name the worst element and its index. Every parity
//! test of the suite goes through them, so these tests are what make the others able to fail.

mod common;

use common::{assert_close, assert_covered, assert_equal, check_close, check_close_f64, check_equal, unravel};
use tch::{Device, Kind, Tensor};

const RTOL: f64 = 1e-4;
const ATOL: f64 = 1e-5;

fn torch_values() -> Tensor {
    // What torch computed: finite, of both signs, one large.
    Tensor::from_slice(&[0.5f32, -1.25, 3.0, 1000.0, 0.0, -7.5]).reshape([2, 3])
}

fn with(t: &Tensor, at: [i64; 2], v: f64) -> Tensor {
    let t = t.copy();
    let _ = t.get(at[0]).get(at[1]).fill_(v);
    t
}

#[test]
fn equal_and_close_tensors_pass() {
    let b = torch_values();
    assert_close("same", &b, &b, RTOL, ATOL);
    assert_equal("same", &b, &b);
    // Half the tolerance away, on every element: close.
    let tol = b.abs() * RTOL + ATOL;
    assert_close("half the tolerance", &(&b + &tol * 0.5), &b, RTOL, ATOL);
    assert!(check_equal(&(&b + &tol * 0.5), &b).is_err(), "not bit-identical");
    // Equal infinities are close (torch.isclose), as are empty tensors of the same shape.
    let inf = with(&b, [1, 0], f64::INFINITY);
    assert_close("+Inf on both sides", &inf, &inf, RTOL, ATOL);
    let e = Tensor::zeros([0, 3], (Kind::Float, Device::Cpu));
    assert_close("empty", &e, &e, RTOL, ATOL);
}

#[test]
fn a_nan_fails_and_is_named_with_its_index() {
    let b = torch_values();
    let a = with(&b, [1, 2], f64::NAN);
    let e = check_close(&a, &b, RTOL, ATOL).unwrap_err();
    assert!(e.contains("1 of 6 elements"), "{e}");
    assert!(e.contains("worst at [1, 2]") && e.contains("ours NaN"), "{e}");
    assert!(e.contains("ours has 1 NaN"), "{e}");
    // Even with a huge tolerance, and even when torch has a NaN at the same place.
    assert!(check_close(&a, &b, 1e9, 1e9).is_err());
    assert!(check_close(&a, &a, RTOL, ATOL).is_err(), "NaN == NaN must not pass (equal_nan=False)");
    assert!(check_equal(&a, &a).is_err(), "torch.equal is false with a NaN");
    // An all-NaN output: every element fails.
    let all = Tensor::full([2, 3], f64::NAN, (Kind::Float, Device::Cpu));
    let e = check_close(&all, &b, RTOL, ATOL).unwrap_err();
    assert!(e.contains("6 of 6 elements"), "{e}");
    assert!(check_equal(&all, &b).is_err());
    // The worst element is the NaN even when another one is far off.
    let both = with(&with(&b, [0, 0], 50.0), [1, 1], f64::NAN);
    let e = check_close(&both, &b, RTOL, ATOL).unwrap_err();
    assert!(e.contains("2 of 6") && e.contains("worst at [1, 1]"), "{e}");
}

#[test]
fn an_inf_where_torch_is_finite_fails() {
    let b = torch_values();
    for v in [f64::INFINITY, f64::NEG_INFINITY] {
        let a = with(&b, [0, 1], v);
        let e = check_close(&a, &b, 1e9, 1e9).unwrap_err();
        assert!(e.contains("worst at [0, 1]") && e.contains("1 Inf"), "{e}");
        assert!(check_equal(&a, &b).is_err());
    }
    // …and a finite value where torch has an Inf, or the Inf of the other sign.
    let inf = with(&b, [0, 1], f64::INFINITY);
    assert!(check_close(&b, &inf, 1e9, 1e9).is_err());
    assert!(check_close(&with(&b, [0, 1], f64::NEG_INFINITY), &inf, RTOL, ATOL).is_err());
}

#[test]
fn twice_the_tolerance_fails_at_the_worst_element() {
    let b = torch_values();
    // Element [1, 0] (1000.0) off by twice its tolerance, element [0, 0] by 1.5 times.
    let tol = |v: f64| ATOL + RTOL * v.abs();
    let a = with(&with(&b, [1, 0], 1000.0 + 2.0 * tol(1000.0)), [0, 0], 0.5 - 1.5 * tol(0.5));
    let e = check_close(&a, &b, RTOL, ATOL).unwrap_err();
    assert!(e.contains("2 of 6 elements"), "{e}");
    assert!(e.contains("worst at [1, 0]"), "the larger excess is [1, 0]: {e}");
    assert!(e.contains("torch 1e3"), "{e}");
    let e = check_equal(&a, &b).unwrap_err();
    assert!(e.contains("2 of 6 elements") && e.contains("first at [0, 0]"), "{e}");
    // Exactly at the tolerance: close (|diff| ≤ tol), up to float32 rounding of the value.
    let at = with(&b.to_kind(Kind::Double), [0, 2], 3.0 + tol(3.0) * 0.999);
    assert_close("at the tolerance", &at, &b.to_kind(Kind::Double), RTOL, ATOL);
    // Scalars.
    assert!(check_close_f64(1.0 + 2.0 * (ATOL + RTOL), 1.0, RTOL, ATOL).is_err());
    assert!(check_close_f64(f64::NAN, 1.0, 1e9, 1e9).is_err());
    assert!(check_close_f64(f64::NAN, f64::NAN, 1e9, 1e9).is_err());
    assert!(check_close_f64(1.0 + 0.5 * (ATOL + RTOL), 1.0, RTOL, ATOL).is_ok());
}

#[test]
fn a_shape_or_dtype_difference_fails() {
    let b = torch_values();
    let e = check_close(&b.reshape([3, 2]), &b, 1e9, 1e9).unwrap_err();
    assert!(e.contains("shapes differ") && e.contains("[3, 2]") && e.contains("[2, 3]"), "{e}");
    assert!(check_close(&b.reshape([1, 2, 3]), &b, 1e9, 1e9).is_err(), "a broadcastable shape is still another shape");
    assert!(check_equal(&b.reshape([6]), &b).is_err());
    let e = check_close(&b.to_kind(Kind::Double), &b, 1e9, 1e9).unwrap_err();
    assert!(e.contains("dtypes differ") && e.contains("Double") && e.contains("Float"), "{e}");
    assert!(check_equal(&b.to_kind(Kind::Half), &b).is_err());
    // Integers: exact values compare, another dtype does not.
    let i = Tensor::from_slice(&[1i64, 2, 3]);
    assert_equal("ints", &i, &i.copy());
    assert!(check_equal(&i, &i.to_kind(Kind::Int)).is_err());
    assert!(check_equal(&Tensor::from_slice(&[1i64, 5, 3]), &i).unwrap_err().contains("first at [1]"));
}

#[test]
#[should_panic(expected = "layer output: 6 of 6 elements differ")]
fn assert_close_panics_on_an_all_nan_output() {
    let b = torch_values();
    assert_close("layer output", &Tensor::full([2, 3], f64::NAN, (Kind::Float, Device::Cpu)), &b, RTOL, ATOL);
}

#[test]
#[should_panic(expected = "shapes differ")]
fn assert_equal_panics_on_a_shape_difference() {
    let b = torch_values();
    assert_equal("reshaped", &b.reshape([3, 2]), &b);
}

#[test]
fn coverage_of_a_case_list_is_checked() {
    let ok = std::panic::catch_unwind(|| assert_covered("cases", ["a", "b"], ["b", "a"]));
    assert!(ok.is_ok());
    for (covered, expected) in [
        (vec![], vec!["a"]),         // the loop ran zero times
        (vec!["a"], vec!["a", "b"]), // a case was skipped
        (vec!["a", "b"], vec!["a"]), // a case that is not in the manifest
        (vec!["a", "a"], vec!["a"]), // one case twice
        (vec![], vec![]),            // an empty manifest
    ] {
        let r = std::panic::catch_unwind(|| assert_covered("cases", covered.clone(), expected.clone()));
        assert!(r.is_err(), "{covered:?} against {expected:?} should fail");
    }
}

#[test]
fn unravel_gives_row_major_indices() {
    assert_eq!(unravel(0, &[2, 3]), [0, 0]);
    assert_eq!(unravel(5, &[2, 3]), [1, 2]);
    assert_eq!(unravel(23, &[2, 3, 4]), [1, 2, 3]);
    assert_eq!(unravel(0, &[]), Vec::<i64>::new());
}
