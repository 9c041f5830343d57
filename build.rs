//! Makes everything built from this crate (tests, examples, the CLI) start without
//! `LD_LIBRARY_PATH` and see CUDA where libtorch has it.
//!
//! torch-sys publishes libtorch's lib folder to crates that depend on it directly, as
//! `DEP_TCH_LIBTORCH_LIB` (its `links` key is `tch`). We add an rpath to it and, where
//! `libtorch_cuda.so` exists, link it with `--no-as-needed`: otherwise the linker drops the
//! library (nothing references its symbols directly), its static initialisers never run and
//! `tch::Cuda::is_available()` is false (tch-rs issue 980).
//!
//! `cargo:rustc-link-arg` only reaches this package's own binaries, tests and examples. A
//! downstream crate gets the same by calling [`tchvision::runtime::ensure_cuda_loaded`] at start
//! (tchvision does it whenever a CUDA device is asked for) and by adding an rpath of its own; see
//! the README's "Using tchvision from another crate".
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=torch-sys did not publish DEP_TCH_LIBTORCH_LIB; no rpath added");
        return;
    };
    println!("cargo:rustc-env=TCHVISION_LIBTORCH_LIB={lib}");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "macos" {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    if os == "linux" && Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-L{lib}");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
