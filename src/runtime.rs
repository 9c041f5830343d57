//! Devices, and CUDA for every crate that links tchvision.
//!
//! libtorch registers its CUDA backend from the static initialisers of `libtorch_cuda.so`. A
//! binary that links it "as needed" drops it (nothing references its symbols directly), and then
//! `tch::Cuda::is_available()` is false on a GPU machine (tch-rs issue 980). Linking it with
//! `--no-as-needed` would load CUDA's libraries into every process, CPU jobs included; instead
//! [`ensure_cuda_loaded`] `dlopen`s it at run time, and [`device`] calls it whenever CUDA is
//! asked for (for `auto` only when [`gpu_present`]).

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
        {
            // The libtorch this crate was built with; else the one the loader finds
            // (LD_LIBRARY_PATH: binaries carried to another machine).
            let mut candidates: Vec<String> = Vec::new();
            if let Some(dir) = LIBTORCH_LIB {
                let path = std::path::Path::new(dir).join("libtorch_cuda.so");
                if path.exists() {
                    candidates.push(path.to_string_lossy().into_owned());
                }
            }
            candidates.push("libtorch_cuda.so".into());
            for c in candidates {
                if let Ok(c) = std::ffi::CString::new(c) {
                    // SAFETY: dlopen with a valid NUL-terminated path; the handle is kept for the
                    // life of the process on purpose.
                    let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
                    if !handle.is_null() {
                        break;
                    }
                }
            }
        }
    });
    tch::Cuda::is_available()
}

/// Whether this machine shows an NVIDIA GPU to the operating system (its device nodes or
/// driver), checked without loading CUDA. `auto` only loads libtorch's CUDA libraries (a second
/// or more of start-up) when this says yes.
pub fn gpu_present() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    ["/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg", "/proc/driver/nvidia/version"]
        .iter()
        .any(|p| std::path::Path::new(p).exists())
}

/// Parses a device: `cpu`, `cuda`, `cuda:N`, or `auto` (the first GPU where there is one, else
/// the CPU; CUDA is only loaded when [`gpu_present`]). Asking for CUDA where there is none is an
/// error.
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
        "auto" => Ok(if gpu_present() && ensure_cuda_loaded() { Device::Cuda(0) } else { Device::Cpu }),
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
