//! Lets the fuzz binaries find libtorch without LD_LIBRARY_PATH: an rpath to the libtorch
//! torch-sys linked (as the README advises for any crate that builds binaries on tchvision).
fn main() {
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
