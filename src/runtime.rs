//! Devices, and CUDA for every crate that links tchvision.
//!
//! libtorch registers its CUDA backend from the static initialisers of `libtorch_cuda.so`. A
//! binary that links it "as needed" drops it (nothing references its symbols directly), and then
//! `tch::Cuda::is_available()` is false on a GPU machine (tch-rs issue 980). tchvision's build
//! script links it with `--no-as-needed` for this crate's own binaries, tests and examples;
//! [`ensure_cuda_loaded`] does the same at run time for any other binary by `dlopen`ing it, and
//! [`device`] calls it whenever CUDA is asked for.

use std::sync::OnceLock;
use tch::Device;

use crate::error::{Error, Result};

/// The libtorch lib folder this crate was built against.
pub const LIBTORCH_LIB: Option<&str> = option_env!("TCHVISION_LIBTORCH_LIB");

/// Loads `libtorch_cuda.so` (from the libtorch tchvision was built with) if the process has not
/// loaded it yet, so that CUDA is seen. Returns whether CUDA is available afterwards. Harmless on
/// machines without CUDA or with a CPU-only libtorch.
pub fn ensure_cuda_loaded() -> bool {
    static LOADED: OnceLock<()> = OnceLock::new();
    LOADED.get_or_init(|| {
        #[cfg(target_os = "linux")]
        if let Some(dir) = LIBTORCH_LIB {
            let path = std::path::Path::new(dir).join("libtorch_cuda.so");
            if path.exists() {
                if let Ok(c) = std::ffi::CString::new(path.to_string_lossy().as_bytes()) {
                    // SAFETY: dlopen with a valid NUL-terminated path; the handle is kept for the
                    // life of the process on purpose.
                    unsafe {
                        libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
                    }
                }
            }
        }
    });
    tch::Cuda::is_available()
}

/// Parses a device: `cpu`, `cuda`, `cuda:N`, or `auto` (the first GPU where there is one, else
/// the CPU). Asking for CUDA where there is none is an error.
///
/// ```
/// assert_eq!(tchvision::runtime::device("cpu")?, tch::Device::Cpu);
/// assert!(tchvision::runtime::device("tpu").is_err());
/// # Ok::<(), tchvision::Error>(())
/// ```
pub fn device(spec: &str) -> Result<Device> {
    let spec = spec.trim().to_ascii_lowercase();
    match spec.as_str() {
        "cpu" => Ok(Device::Cpu),
        "auto" => Ok(if ensure_cuda_loaded() { Device::Cuda(0) } else { Device::Cpu }),
        _ => {
            let index = if spec == "cuda" {
                0
            } else if let Some(n) = spec.strip_prefix("cuda:") {
                n.parse::<usize>()
                    .map_err(|_| Error::unknown("device", spec.clone(), &["cpu", "cuda", "cuda:N", "auto"]))?
            } else {
                return Err(Error::unknown("device", spec, &["cpu", "cuda", "cuda:N", "auto"]));
            };
            if !ensure_cuda_loaded() {
                return Err(Error::InvalidArgument(format!("device {spec}: CUDA is not available on this machine")));
            }
            let count = tch::Cuda::device_count() as usize;
            if index >= count {
                return Err(Error::InvalidArgument(format!("device {spec}: only {count} CUDA device(s) present")));
            }
            Ok(Device::Cuda(index))
        }
    }
}
