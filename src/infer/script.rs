//! [`ScriptModule`]: a libtorch `torch::jit::Module` owned from Rust, through the C++ shim
//! (`src/infer/shim.cpp`, compiled by build.rs against the same libtorch as tch).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::Path;

use tch::{Device, Kind, Tensor};
use torch_sys::C_tensor;

use crate::error::{Error, Result};
use crate::nn::Module;

#[allow(non_camel_case_types)]
type tv_module = *mut c_void;
#[allow(non_camel_case_types)]
type tv_graph = *mut c_void;
#[allow(non_camel_case_types)]
type tv_trace_fn = extern "C" fn(data: *mut c_void, inputs: *mut *mut C_tensor, n: c_int, out: *mut c_void) -> c_int;

extern "C" {
    fn tv_free_string(s: *mut c_char);
    fn tv_module_free(m: tv_module);
    fn tv_module_new(share_cu_with: tv_module, cls: *const c_char, out: *mut tv_module) -> *mut c_char;
    fn tv_module_register_tensor(
        m: tv_module,
        name: *const c_char,
        t: *const C_tensor,
        is_buffer: c_int,
    ) -> *mut c_char;
    fn tv_module_register_module(m: tv_module, name: *const c_char, child: tv_module) -> *mut c_char;
    fn tv_stack_push(stack: *mut c_void, t: *const C_tensor);
    fn tv_module_trace(
        m: tv_module,
        method: *const c_char,
        inputs: *const *const C_tensor,
        n: c_int,
        f: tv_trace_fn,
        data: *mut c_void,
    ) -> *mut c_char;
    fn tv_module_copy_tensors(m: tv_module) -> *mut c_char;
    fn tv_module_set_training(m: tv_module, on: c_int) -> *mut c_char;
    fn tv_module_clone(m: tv_module, out: *mut tv_module) -> *mut c_char;
    fn tv_module_unshare_constants(m: tv_module, tensors: *const *const C_tensor, n: c_int) -> *mut c_char;
    fn tv_module_freeze(m: tv_module, out: *mut tv_module) -> *mut c_char;
    fn tv_module_optimize_for_inference(m: tv_module, out: *mut tv_module) -> *mut c_char;
    fn tv_module_cast_frozen(
        m: tv_module,
        dtype: c_int,
        channels_last: c_int,
        float_outputs: *const c_int,
        noutputs: c_int,
    ) -> *mut c_char;
    fn tv_module_forward(
        m: tv_module,
        inputs: *const *const C_tensor,
        n: c_int,
        out: *mut *mut C_tensor,
    ) -> *mut c_char;
    fn tv_module_graph(m: tv_module, out: *mut *mut c_char) -> *mut c_char;
    fn tv_module_warm_up_onednn_graph(
        m: tv_module,
        input: *const C_tensor,
        runs: c_int,
        fused: *mut c_int,
    ) -> *mut c_char;
    fn tv_module_save(m: tv_module, path: *const c_char) -> *mut c_char;
    fn tv_module_load(path: *const c_char, device: c_int, out: *mut tv_module) -> *mut c_char;
    fn tv_module_to(m: tv_module, device: c_int, dtype: c_int) -> *mut c_char;
    fn tv_module_state_names(m: tv_module, out: *mut *mut c_char) -> *mut c_char;
    fn tv_cuda_graphs_supported() -> c_int;
    fn tv_set_allow_tf32(on: c_int);
    fn tv_graph_free(g: tv_graph);
    fn tv_graph_capture(m: tv_module, input: *const C_tensor, out: *mut tv_graph) -> *mut c_char;
    fn tv_graph_replay(g: tv_graph, input: *const C_tensor, out: *mut *mut C_tensor) -> *mut c_char;
}

/// Takes a message returned by the shim (NULL: success).
fn check(err: *mut c_char, context: impl FnOnce() -> String) -> Result<()> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: the shim returns a NUL-terminated malloc'd string, freed here exactly once.
    let msg = unsafe {
        let m = CStr::from_ptr(err).to_string_lossy().into_owned();
        tv_free_string(err);
        m
    };
    // libtorch's first line says what failed; the TorchScript interpreter's says only that
    // something did, with the cause last (`RuntimeError: …`, after the traceback).
    let lines: Vec<&str> = msg.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let first = lines.first().copied().unwrap_or("");
    let line = if first.contains("TorchScript interpreter") {
        lines.iter().rev().find(|l| l.contains("Error:")).copied().unwrap_or(first)
    } else {
        first
    };
    Err(Error::torch(context(), tch::TchError::Torch(line.to_string())))
}

/// Takes a string the shim allocated.
fn take_string(s: *mut c_char) -> String {
    if s.is_null() {
        return String::new();
    }
    // SAFETY: as in `check`.
    unsafe {
        let out = CStr::from_ptr(s).to_string_lossy().into_owned();
        tv_free_string(s);
        out
    }
}

fn cstring(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::InvalidArgument(format!("{what} `{s}` contains a NUL byte")))
}

fn device_index(d: Device) -> c_int {
    match d {
        Device::Cuda(i) => i as c_int,
        _ => -1,
    }
}

/// The `c10::ScalarType` code of a float kind.
pub(crate) fn scalar_type(kind: Kind) -> c_int {
    match kind {
        Kind::Half => 5,
        Kind::Float => 6,
        Kind::Double => 7,
        Kind::BFloat16 => 15,
        _ => 6,
    }
}

/// A TorchScript module (libtorch's `torch::jit::Module`, Python's `torch.jit.ScriptModule`):
/// traced from a Rust [`Module`] by [`ScriptModule::trace`], loaded from a file, frozen and
/// run. Owns its C++ object.
#[derive(Debug)]
pub struct ScriptModule {
    ptr: tv_module,
}

// SAFETY: a torch::jit::Module is a reference-counted handle; libtorch allows using a module
// from another thread than the one that made it (not concurrently: `ScriptModule` is not Sync).
unsafe impl Send for ScriptModule {}

impl Drop for ScriptModule {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from the shim and is freed once.
        unsafe { tv_module_free(self.ptr) }
    }
}

struct TraceCtx<'a> {
    forward: &'a mut dyn FnMut(&[Tensor]) -> Result<Vec<Tensor>>,
    error: Option<Error>,
}

extern "C" fn trace_callback(data: *mut c_void, inputs: *mut *mut C_tensor, n: c_int, out: *mut c_void) -> c_int {
    // SAFETY: `data` is the `TraceCtx` that `ScriptModule::trace_fn` passed, alive for the call.
    let ctx = unsafe { &mut *(data as *mut TraceCtx) };
    // SAFETY: the shim passes `n` tensors it allocated for us to own.
    let inputs: Vec<Tensor> = (0..n as usize).map(|i| unsafe { Tensor::from_ptr(*inputs.add(i)) }).collect();
    let forward = &mut ctx.forward;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| forward(&inputs)));
    match result {
        Ok(Ok(outputs)) => {
            for t in &outputs {
                // SAFETY: the stack copies the tensor handle before `outputs` is dropped.
                unsafe { tv_stack_push(out, t.as_ptr()) };
            }
            0
        }
        Ok(Err(e)) => {
            ctx.error = Some(e);
            1
        }
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            ctx.error = Some(Error::InvalidArgument(format!("the traced forward pass panicked: {msg}")));
            1
        }
    }
}

impl ScriptModule {
    fn new(share_cu_with: Option<&ScriptModule>, class: &str) -> Result<Self> {
        let cls = cstring(class, "class name")?;
        let mut ptr = std::ptr::null_mut();
        // SAFETY: valid pointers; the shim writes `ptr` on success.
        check(
            unsafe { tv_module_new(share_cu_with.map_or(std::ptr::null_mut(), |m| m.ptr), cls.as_ptr(), &mut ptr) },
            || format!("creating a TorchScript module for {class}"),
        )?;
        Ok(ScriptModule { ptr })
    }

    /// A TorchScript module mirroring `model`'s tree: one submodule per child (same names),
    /// each with its parameters and buffers registered under their names — the very tensors
    /// of `model`, not copies — so that `state_dict()` keys equal `model`'s. It has no methods
    /// yet; see [`ScriptModule::trace`].
    pub fn mirror(model: &dyn Module) -> Result<Self> {
        let root = ScriptModule::new(None, model.kind().name())?;
        root.fill(&root, model, "")?;
        Ok(root)
    }

    fn fill(&self, root: &ScriptModule, m: &dyn Module, path: &str) -> Result<()> {
        let key = |n: &str| if path.is_empty() { n.to_string() } else { format!("{path}.{n}") };
        for (buffer, list) in [(false, m.own_parameters()), (true, m.own_buffers())] {
            for (name, t) in list {
                let c = cstring(name, "tensor name")?;
                // SAFETY: `t` is a live tensor; the module keeps its own reference.
                check(unsafe { tv_module_register_tensor(self.ptr, c.as_ptr(), t.as_ptr(), buffer as c_int) }, || {
                    format!("registering {}", key(name))
                })?;
            }
        }
        for (name, child) in m.named_children() {
            let sub = ScriptModule::new(Some(root), child.kind().name())?;
            sub.fill(root, child, &key(&name))?;
            let c = cstring(&name, "submodule name")?;
            // SAFETY: both modules are live; the parent keeps its own reference to the child.
            check(unsafe { tv_module_register_module(self.ptr, c.as_ptr(), sub.ptr) }, || {
                format!("registering submodule {}", key(&name))
            })?;
        }
        Ok(())
    }

    /// Traces `forward` on `inputs` into this module's method `method` with libtorch's tracer
    /// (what `torch.jit.trace(module, inputs)` does): each operation `forward` runs is recorded;
    /// reads of this module's registered tensors become attribute reads, other tensors it uses
    /// become constants of the graph. Values `forward` computes on the side (shapes read into
    /// Rust, Python-style control flow) are fixed at what they were for `inputs`.
    pub fn trace_fn(
        &self,
        method: &str,
        inputs: &[Tensor],
        forward: &mut dyn FnMut(&[Tensor]) -> Result<Vec<Tensor>>,
    ) -> Result<()> {
        let m = cstring(method, "method name")?;
        let ptrs: Vec<*const C_tensor> = inputs.iter().map(|t| t.as_ptr()).collect();
        let mut ctx = TraceCtx { forward, error: None };
        // SAFETY: `ctx` outlives the call; the callback only runs during it.
        let err = unsafe {
            tv_module_trace(
                self.ptr,
                m.as_ptr(),
                ptrs.as_ptr(),
                ptrs.len() as c_int,
                trace_callback,
                &mut ctx as *mut TraceCtx as *mut c_void,
            )
        };
        if let Some(e) = ctx.error.take() {
            if !err.is_null() {
                take_string(err);
            }
            return Err(e);
        }
        check(err, || "tracing the forward pass".into())
    }

    /// Traces `model`'s eval-mode forward pass on `example` into a TorchScript module with
    /// `model`'s tree, parameters and buffers (shared with `model` until
    /// [`ScriptModule::copy_tensors`]).
    pub fn trace(model: &dyn Module, example: &Tensor) -> Result<Self> {
        Ok(ScriptModule::trace_with_output(model, example)?.0)
    }

    /// [`ScriptModule::trace`], also returning the output the traced pass computed.
    pub fn trace_with_output(model: &dyn Module, example: &Tensor) -> Result<(Self, Tensor)> {
        let sm = ScriptModule::mirror(model)?;
        let mut output = None;
        sm.trace_fn("forward", std::slice::from_ref(example), &mut |xs| {
            let _g = tch::no_grad_guard();
            let y = model.try_forward_t(&xs[0], false)?;
            output = Some(y.shallow_clone());
            Ok(vec![y])
        })?;
        let output = output.ok_or_else(|| Error::InvalidArgument("the traced forward pass did not run".into()))?;
        Ok((sm, output))
    }

    /// Gives every parameter and buffer its own copy, so the module no longer shares storage
    /// with the tensors it was built from.
    pub fn copy_tensors(&self) -> Result<()> {
        // SAFETY: live module.
        check(unsafe { tv_module_copy_tensors(self.ptr) }, || "copying the module's tensors".into())
    }

    /// A deep copy (`module.clone()`): its own type, methods and attributes. Tensors held as
    /// graph constants stay shared with `self`; the passes of this module replace constants
    /// and never write into them.
    pub fn deep_clone(&self) -> Result<ScriptModule> {
        let mut ptr = std::ptr::null_mut();
        // SAFETY: live module; `ptr` written on success.
        check(unsafe { tv_module_clone(self.ptr, &mut ptr) }, || "cloning the module".into())?;
        Ok(ScriptModule { ptr })
    }

    /// Copies every constant of `forward`'s graph that shares storage with one of `tensors`, so
    /// the module no longer aliases them.
    pub fn unshare_constants(&self, tensors: &[Tensor]) -> Result<()> {
        let ptrs: Vec<*const C_tensor> = tensors.iter().map(|t| t.as_ptr()).collect();
        // SAFETY: live module and tensors.
        check(unsafe { tv_module_unshare_constants(self.ptr, ptrs.as_ptr(), ptrs.len() as c_int) }, || {
            "copying shared constants".into()
        })
    }

    /// Sets the training flag of every submodule (`module.train(on)`).
    pub fn set_training(&self, on: bool) -> Result<()> {
        // SAFETY: live module.
        check(unsafe { tv_module_set_training(self.ptr, on as c_int) }, || "setting the training flag".into())
    }

    /// `torch.jit.freeze(module.eval())`: parameters and buffers inlined as constants,
    /// Conv+BatchNorm, Linear+BatchNorm and Conv+Add/Sub/Mul/Div folded. A new module.
    pub fn freeze(&self) -> Result<ScriptModule> {
        let mut ptr = std::ptr::null_mut();
        // SAFETY: live module; `ptr` written on success.
        check(unsafe { tv_module_freeze(self.ptr, &mut ptr) }, || "freezing the module".into())?;
        Ok(ScriptModule { ptr })
    }

    /// `torch.jit.optimize_for_inference` on a frozen module: oneDNN layouts and prepacked
    /// weights for float32 CPU convolutions and linears, conv+add+relu fusion on CUDA,
    /// transposed linear weights. A new module.
    pub fn optimize_for_inference(&self) -> Result<ScriptModule> {
        let mut ptr = std::ptr::null_mut();
        // SAFETY: live module; `ptr` written on success.
        check(unsafe { tv_module_optimize_for_inference(self.ptr, &mut ptr) }, || "optimize_for_inference".into())?;
        Ok(ScriptModule { ptr })
    }

    /// On a frozen module: casts every floating constant to `kind` (channels-last when 4-d and
    /// `channels_last`), the floating inputs to `kind` (and channels-last) on entry and the
    /// outputs flagged in `float_outputs` (one flag per output of `forward`) back to float32,
    /// inside the graph.
    pub fn cast_frozen(&self, kind: Kind, channels_last: bool, float_outputs: &[bool]) -> Result<()> {
        let flags: Vec<c_int> = float_outputs.iter().map(|&b| b as c_int).collect();
        // SAFETY: live module; `flags` outlives the call.
        check(
            unsafe {
                tv_module_cast_frozen(
                    self.ptr,
                    scalar_type(kind),
                    channels_last as c_int,
                    flags.as_ptr(),
                    flags.len() as c_int,
                )
            },
            || format!("casting the frozen graph to {kind:?}"),
        )
    }

    /// Runs `forward` on `inputs` (no autograd) and returns its tensor output.
    pub fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let ptrs: Vec<*const C_tensor> = inputs.iter().map(|t| t.as_ptr()).collect();
        let mut out = std::ptr::null_mut();
        // SAFETY: live module and tensors; `out` is a tensor we own on success.
        check(unsafe { tv_module_forward(self.ptr, ptrs.as_ptr(), ptrs.len() as c_int, &mut out) }, || {
            let shapes: Vec<Vec<i64>> = inputs.iter().map(|t| t.size()).collect();
            format!("running the TorchScript forward on inputs of shape {shapes:?}")
        })?;
        // SAFETY: the shim allocated `out` for us.
        Ok(unsafe { Tensor::from_ptr(out) })
    }

    /// Runs `forward` on `input` `runs` times with libtorch's oneDNN Graph fuser (LLGA) on, so
    /// that libtorch's graph executor, which optimises a graph after profiling its first run,
    /// fuses this (frozen, CPU float32 or bfloat16) module into oneDNN Graph partitions; later
    /// calls run the fused graph. The fuser runs for this call only (no other module, no other
    /// thread is fused). Returns whether the optimised graph holds a fusion group.
    pub fn warm_up_onednn_graph(&self, input: &Tensor, runs: usize) -> Result<bool> {
        let mut fused: c_int = 0;
        // SAFETY: live module and tensor; `fused` written on success.
        check(unsafe { tv_module_warm_up_onednn_graph(self.ptr, input.as_ptr(), runs as c_int, &mut fused) }, || {
            format!("running the oneDNN Graph fuser on input of shape {:?}", input.size())
        })?;
        Ok(fused != 0)
    }

    /// The graph of `forward`, as libtorch prints it.
    pub fn graph(&self) -> Result<String> {
        let mut s = std::ptr::null_mut();
        // SAFETY: live module; `s` written on success.
        check(unsafe { tv_module_graph(self.ptr, &mut s) }, || "printing the graph".into())?;
        Ok(take_string(s))
    }

    /// `torch.jit.save(module, path)`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let p = cstring(&path.to_string_lossy(), "path")?;
        // SAFETY: live module, valid path.
        check(unsafe { tv_module_save(self.ptr, p.as_ptr()) }, || format!("saving {}", path.display()))
    }

    /// `torch.jit.load(path, map_location=device)`.
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        let p = cstring(&path.to_string_lossy(), "path")?;
        let mut ptr = std::ptr::null_mut();
        // SAFETY: valid path; `ptr` written on success.
        check(unsafe { tv_module_load(p.as_ptr(), device_index(device), &mut ptr) }, || {
            format!("loading {}", path.display())
        })?;
        Ok(ScriptModule { ptr })
    }

    /// `module.to(device, kind)`: moves and casts parameters and buffers (not graph constants).
    pub fn to(&self, device: Device, kind: Kind) -> Result<()> {
        // SAFETY: live module.
        check(unsafe { tv_module_to(self.ptr, device_index(device), scalar_type(kind)) }, || {
            format!("moving the module to {device:?} {kind:?}")
        })
    }

    /// The names of the parameters, then of the buffers (`named_parameters()`,
    /// `named_buffers()`).
    pub fn state_names(&self) -> Result<Vec<String>> {
        let mut s = std::ptr::null_mut();
        // SAFETY: live module; `s` written on success.
        check(unsafe { tv_module_state_names(self.ptr, &mut s) }, || "listing the module's tensors".into())?;
        Ok(take_string(s).lines().map(String::from).collect())
    }
}

/// Lets float32 convolutions (cuDNN) and matmuls (cuBLAS) on CUDA use TF32 tensor cores, or
/// not: `torch.backends.cudnn.allow_tf32` and `torch.backends.cuda.matmul.allow_tf32` together.
/// libtorch's defaults: on for cuDNN, off for cuBLAS.
pub fn set_allow_tf32(on: bool) {
    // SAFETY: sets two flags of libtorch's global context.
    unsafe { tv_set_allow_tf32(on as c_int) }
}

/// Whether this build of tchvision can capture CUDA graphs (it was compiled with CUDA's
/// headers).
pub fn cuda_graphs_supported() -> bool {
    // SAFETY: no arguments.
    unsafe { tv_cuda_graphs_supported() != 0 }
}

/// A CUDA graph captured from a [`ScriptModule`]'s forward on one input shape: replays copy the
/// input into the graph's static input and return a copy of its static output.
#[derive(Debug)]
pub struct CudaGraph {
    ptr: tv_graph,
}

// SAFETY: as ScriptModule: used from one thread at a time.
unsafe impl Send for CudaGraph {}

impl Drop for CudaGraph {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from the shim and is freed once.
        unsafe { tv_graph_free(self.ptr) }
    }
}

impl CudaGraph {
    /// Captures `module.forward(example)` (after warm-up runs on a side stream).
    pub fn capture(module: &ScriptModule, example: &Tensor) -> Result<Self> {
        let mut ptr = std::ptr::null_mut();
        // SAFETY: live module and tensor; `ptr` written on success.
        check(unsafe { tv_graph_capture(module.ptr, example.as_ptr(), &mut ptr) }, || {
            format!("capturing a CUDA graph for input {:?}", example.size())
        })?;
        Ok(CudaGraph { ptr })
    }

    /// Replays the graph on `input` (same shape, dtype and device as the captured example).
    pub fn replay(&self, input: &Tensor) -> Result<Tensor> {
        let mut out = std::ptr::null_mut();
        // SAFETY: live graph and tensor; `out` is ours on success.
        check(unsafe { tv_graph_replay(self.ptr, input.as_ptr(), &mut out) }, || "replaying the CUDA graph".into())?;
        // SAFETY: the shim allocated `out` for us.
        Ok(unsafe { Tensor::from_ptr(out) })
    }
}
