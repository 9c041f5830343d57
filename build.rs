//! Makes everything built from this crate (tests, examples, the CLI) start without
//! `LD_LIBRARY_PATH`.
//!
//! torch-sys publishes libtorch's lib folder to crates that depend on it directly, as
//! `DEP_TCH_LIBTORCH_LIB` (its `links` key is `tch`). We add an rpath to it. CUDA is not linked:
//! `libtorch_cuda.so` (and with it cuDNN, cuBLAS, NCCL, …) is `dlopen`ed when a CUDA device is
//! asked for ([`tchvision::runtime::ensure_cuda_loaded`]), so CPU jobs start without loading it.
//! Linking it "as needed" would drop it anyway (nothing references its symbols; tch-rs issue
//! 980); the folder is also published as `TCHVISION_LIBTORCH_LIB` for that `dlopen`.
//!
//! It also compiles `src/infer/shim.cpp`, the C++ side of [`tchvision::infer`] (tracing into a
//! TorchScript module with parameters, `torch::jit::freeze`, `optimize_for_inference`), against
//! the headers of that same libtorch (`<lib>/../include`), with torch-sys' flags (C++17, the
//! C++11 ABI unless `LIBTORCH_CXX11_ABI=0`). With `TCHVISION_CUDA_GRAPHS=1`, and CUDA's runtime
//! headers complete beside libtorch (the `nvidia/cu*` wheels of a pip install, or `CUDA_HOME`),
//! the shim is built with CUDA-graph capture too, which links `libtorch_cuda` and `libc10_cuda`
//! (so they load at start); if that build fails it is built without. Off by default: pip's CUDA
//! wheels ship the runtime headers without their `crt/` folder, and CPU jobs start faster
//! without CUDA.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=torch-sys did not publish DEP_TCH_LIBTORCH_LIB; no rpath added");
        return;
    };
    println!("cargo:rustc-env=TCHVISION_LIBTORCH_LIB={lib}");
    build_shim(Path::new(&lib));
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "macos" {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}

/// Where CUDA's runtime headers are, when libtorch has CUDA: the `nvidia/cu*/include` (or
/// `nvidia/cuda_runtime/include`) folders of a pip install beside `torch/`, or `$CUDA_HOME`.
fn cuda_includes(lib: &Path) -> Vec<PathBuf> {
    if !lib.join("libtorch_cuda.so").exists() {
        return Vec::new();
    }
    let mut found = Vec::new();
    if let Some(site) = lib.parent().and_then(Path::parent) {
        if let Ok(entries) = std::fs::read_dir(site.join("nvidia")) {
            let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("include")).collect();
            dirs.sort();
            found.extend(dirs.into_iter().filter(|d| has_cuda_headers(d)));
        }
    }
    if let Ok(home) = std::env::var("CUDA_HOME") {
        let inc = Path::new(&home).join("include");
        if has_cuda_headers(&inc) {
            found.push(inc);
        }
    }
    found
}

/// The CUDA runtime headers libtorch's CUDA headers include (a pip install may ship only part).
fn has_cuda_headers(inc: &Path) -> bool {
    ["cuda_runtime_api.h", "cuda_runtime.h", "crt/host_config.h"].iter().all(|h| inc.join(h).exists())
}

fn build_shim(lib: &Path) {
    let src = "src/infer/shim.cpp";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo:rerun-if-env-changed=TCHVISION_CUDA_GRAPHS");
    let include = lib.parent().map(|p| p.join("include")).unwrap_or_default();
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    let base = |cuda: &[PathBuf]| {
        let mut b = cc::Build::new();
        b.cpp(true)
            .pic(true)
            .warnings(false)
            .include(&include)
            .include(include.join("torch/csrc/api/include"))
            .flag("-std=c++17")
            .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
            .flag("-DGLOG_USE_GLOG_EXPORT")
            .opt_level(2)
            .file(src);
        if !cuda.is_empty() {
            b.define("TCHVISION_CUDA_GRAPHS", None);
            for inc in cuda {
                b.include(inc);
            }
        }
        b
    };
    let want_graphs = std::env::var("TCHVISION_CUDA_GRAPHS").is_ok_and(|v| v == "1");
    let cuda = if want_graphs { cuda_includes(lib) } else { Vec::new() };
    if want_graphs && cuda.is_empty() {
        println!(
            "cargo:warning=TCHVISION_CUDA_GRAPHS=1 but no complete CUDA headers (set CUDA_HOME); building without"
        );
    }
    if !cuda.is_empty() {
        match base(&cuda).try_compile("tchvision_shim") {
            Ok(()) => {
                println!("cargo:rustc-link-lib=dylib=torch_cuda");
                println!("cargo:rustc-link-lib=dylib=c10_cuda");
                return;
            }
            Err(e) => println!("cargo:warning=building the shim with CUDA graphs failed ({e}); building it without"),
        }
    }
    base(&[]).compile("tchvision_shim");
}
