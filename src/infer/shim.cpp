// The C++ side of tchvision's inference path (src/infer/): what tch 0.24 does not expose of
// libtorch's TorchScript API. Compiled by build.rs against the headers of the libtorch that
// torch-sys links, so its ABI is that libtorch's.
//
// * A torch::jit::Module tree mirroring a Rust module tree, its parameters and buffers
//   registered under PyTorch's names (the same tensors, so the tracer maps each use of a weight
//   to a `prim::GetAttr` instead of baking it into the graph as a constant).
// * Tracing a Rust forward pass into that module's `forward` with libtorch's tracer and `self`
//   (as `torch.jit.trace(module, x)` does), through a callback into Rust.
// * `torch::jit::freeze`, `optimize_for_inference`, a pass that casts a frozen graph to a
//   precision and memory format (with the input and output conversions inside the graph).
// * Running, saving and loading such a module.
//
// Every function returns NULL on success or a malloc'd error message (freed with
// tv_free_string); C++ exceptions never cross into Rust.

#include <torch/script.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/frozen_graph_optimizations.h>
#include <torch/csrc/jit/passes/pass_manager.h>
#include <torch/csrc/jit/passes/shape_analysis.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/csrc/jit/serialization/import.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#ifdef TCHVISION_CUDA_GRAPHS
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

using torch::jit::Module;

// libtorch's oneDNN Graph (LLGA) fuser pass (torch/csrc/jit/codegen/onednn/interface.h, whose
// on/off switch is a per-translation-unit static and so cannot be flipped from here).
namespace torch::jit::fuser::onednn {
C10_EXPORT void fuseGraph(std::shared_ptr<Graph>& g);
}

namespace {

// Whether the executor's optimisation on this thread is one of tv_module_warm_up_onednn_graph's.
thread_local bool onednn_graph_on = false;

// A graph-executor pre-pass that runs the oneDNN Graph fuser only inside
// tv_module_warm_up_onednn_graph, on its thread: every other graph of the process (other
// threads', other forms') is left as it is. Registered once, while this library loads (before
// any executor runs), since libtorch's list of passes is not guarded against concurrent change
// (Python's torch.jit.enable_onednn_fusion registers and clears it at any time, for all threads).
const bool onednn_graph_registered = [] {
  torch::jit::registerPrePass([](std::shared_ptr<torch::jit::Graph>& g) {
    if (onednn_graph_on) {
      torch::jit::fuser::onednn::fuseGraph(g);
    }
  });
  return true;
}();

}  // namespace

namespace {

char* dup(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, s.c_str(), s.size() + 1);
  }
  return out;
}

// Runs `f`, turning any exception into an error message.
template <typename F>
char* guarded(F f) {
  try {
    f();
    return nullptr;
  } catch (const c10::Error& e) {
    return dup(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return dup(e.what());
  } catch (...) {
    return dup("unknown C++ exception");
  }
}

Module new_module(const std::shared_ptr<torch::jit::CompilationUnit>& cu, const char* cls) {
  Module m(c10::QualifiedName(std::string("__torch__.tchvision.") + cls), cu, /*shouldMangle=*/true);
  m.register_attribute("training", c10::BoolType::get(), false);
  return m;
}

// Every node of a block and its sub-blocks.
void collect_nodes(torch::jit::Block* b, std::vector<torch::jit::Node*>& out) {
  for (auto* n : b->nodes()) {
    out.push_back(n);
    for (auto* sub : n->blocks()) {
      collect_nodes(sub, out);
    }
  }
}

}  // namespace

extern "C" {

typedef at::Tensor* tv_tensor;
typedef Module* tv_module;
// Called while tracing: runs the forward on `inputs` (ownership passes to the callee) and
// pushes the outputs with tv_stack_push. Returns 0 on success.
typedef int (*tv_trace_fn)(void* data, tv_tensor* inputs, int ninputs, void* out_stack);

void tv_free_string(char* s) { std::free(s); }

void tv_module_free(tv_module m) { delete m; }

// A new module of class `cls`, in `share_cu_with`'s compilation unit (a new one when NULL),
// with a `training` attribute set to false (as every PyTorch module has one).
char* tv_module_new(tv_module share_cu_with, const char* cls, tv_module* out) {
  return guarded([&] {
    auto cu = share_cu_with != nullptr ? share_cu_with->_ivalue()->compilation_unit()
                                       : std::make_shared<torch::jit::CompilationUnit>();
    *out = new Module(new_module(cu, cls));
  });
}

// Registers `t` (the same tensor, not a copy) as parameter or buffer `name` of `m`.
char* tv_module_register_tensor(tv_module m, const char* name, tv_tensor t, int is_buffer) {
  return guarded([&] { m->register_parameter(name, *t, is_buffer != 0); });
}

// Registers `child` as submodule `name` of `m`.
char* tv_module_register_module(tv_module m, const char* name, tv_module child) {
  return guarded([&] { m->register_module(name, *child); });
}

void tv_stack_push(void* stack, tv_tensor t) { static_cast<torch::jit::Stack*>(stack)->push_back(*t); }

// Traces `fn` on `inputs` into method `method` of `m`: uses of `m`'s tensors (and its
// submodules') become attribute reads, other tensors constants.
char* tv_module_trace(tv_module m, const char* method, tv_tensor* inputs, int ninputs, tv_trace_fn fn, void* data) {
  return guarded([&] {
    torch::jit::Stack stack;
    for (int i = 0; i < ninputs; ++i) {
      stack.emplace_back(*inputs[i]);
    }
    auto traced = [&](torch::jit::Stack in) -> torch::jit::Stack {
      std::vector<tv_tensor> ptrs;
      for (auto& v : in) {
        ptrs.push_back(new at::Tensor(v.toTensor()));
      }
      torch::jit::Stack out;
      if (fn(data, ptrs.data(), static_cast<int>(ptrs.size()), &out) != 0) {
        throw std::runtime_error("the traced forward pass failed");
      }
      return out;
    };
    auto result = torch::jit::tracer::trace(
        std::move(stack), traced, [](const torch::autograd::Variable&) { return std::string(); },
        /*strict=*/true, /*force_outplace=*/false, m);
    auto graph = result.first->graph;
    torch::jit::EliminateDeadCode(graph);
    auto name = c10::QualifiedName(*m->type()->name(), method);
    auto* f = m->_ivalue()->compilation_unit()->create_function(name, graph);
    m->type()->addMethod(f);
  });
}

// Replaces every tensor attribute of `m` and its submodules by a detached copy, so the module
// no longer shares storage with whoever registered the tensors.
char* tv_module_copy_tensors(tv_module m) {
  return guarded([&] {
    torch::NoGradGuard no_grad;
    for (const auto& sub : m->named_modules()) {
      Module mod = sub.value;
      std::vector<std::pair<std::string, at::Tensor>> todo;
      for (const auto& a : mod.named_attributes(/*recurse=*/false)) {
        if (a.value.isTensor()) {
          todo.emplace_back(a.name, a.value.toTensor());
        }
      }
      for (auto& [name, t] : todo) {
        mod.setattr(name, t.detach().clone());
      }
    }
  });
}

// A deep copy of `m`: its own type, methods and attributes (`module.clone()`); the tensors of
// graph constants stay shared (the passes here replace constants, never write into them).
char* tv_module_clone(tv_module m, tv_module* out) {
  return guarded([&] { *out = new Module(m->clone()); });
}

// Replaces every tensor constant of `forward`'s graph whose storage is one of `tensors`'
// storages by a copy, so the frozen module shares no memory with them.
char* tv_module_unshare_constants(tv_module m, tv_tensor* tensors, int n) {
  return guarded([&] {
    torch::NoGradGuard no_grad;
    std::unordered_set<const void*> storages;
    for (int i = 0; i < n; ++i) {
      if (tensors[i]->defined() && tensors[i]->has_storage()) {
        storages.insert(tensors[i]->storage().data());
      }
    }
    auto graph = m->get_method("forward").graph();
    std::vector<torch::jit::Node*> nodes;
    collect_nodes(graph->block(), nodes);
    for (auto* node : nodes) {
      if (node->kind() != c10::prim::Constant || !node->hasAttribute(c10::attr::value) ||
          node->kindOf(c10::attr::value) != torch::jit::AttributeKind::t) {
        continue;
      }
      at::Tensor t = node->t(c10::attr::value);
      if (t.defined() && t.has_storage() && storages.count(t.storage().data()) > 0) {
        node->t_(c10::attr::value, t.clone());
      }
    }
  });
}

// Sets the training flag of `m` and its submodules.
char* tv_module_set_training(tv_module m, int on) {
  return guarded([&] { m->train(on != 0); });
}

// torch.jit.freeze: attributes inlined as constants, Conv/Linear+BatchNorm and
// Conv+Add/Sub/Mul/Div folded.
char* tv_module_freeze(tv_module m, tv_module* out) {
  return guarded([&] {
    m->eval();
    *out = new Module(torch::jit::freeze(*m, std::nullopt, /*optimize_numerics=*/true));
  });
}

// torch.jit.optimize_for_inference on a frozen module: conv+add+relu fusion (CUDA), oneDNN
// (MKLDNN) layouts and prepacked weights for float32 CPU convolutions and linears, transposed
// linear weights.
char* tv_module_optimize_for_inference(tv_module m, tv_module* out) {
  return guarded([&] { *out = new Module(torch::jit::optimize_for_inference(*m)); });
}

// Casts a frozen module's `forward` to `dtype` (a c10::ScalarType): every floating tensor
// constant is converted (and made channels-last when 4-d and `channels_last`), the tensor
// inputs are converted on entry (to `dtype` and, with `channels_last`, to channels-last
// strides) and the outputs i with float_outputs[i] != 0 are converted back to float32.
char* tv_module_cast_frozen(tv_module m, int dtype, int channels_last, const int* float_outputs, int noutputs) {
  return guarded([&] {
    torch::NoGradGuard no_grad;
    auto st = static_cast<c10::ScalarType>(dtype);
    auto graph = m->get_method("forward").graph();
    std::vector<torch::jit::Node*> nodes;
    collect_nodes(graph->block(), nodes);
    for (auto* n : nodes) {
      if (n->kind() != c10::prim::Constant || !n->hasAttribute(c10::attr::value) ||
          n->kindOf(c10::attr::value) != torch::jit::AttributeKind::t) {
        continue;
      }
      at::Tensor t = n->t(c10::attr::value);
      if (!t.is_floating_point()) {
        continue;
      }
      at::Tensor c = t.to(st);
      if (channels_last && c.dim() == 4) {
        c = c.contiguous(at::MemoryFormat::ChannelsLast);
      }
      n->t_(c10::attr::value, c);
      n->output()->inferTypeFrom(c);
    }
    if (static_cast<size_t>(noutputs) != graph->outputs().size()) {
      throw std::runtime_error("cast_frozen: " + std::to_string(noutputs) + " output flags for " +
                               std::to_string(graph->outputs().size()) + " outputs");
    }
    // Inputs: x -> x.to(dtype) [-> x.contiguous(memory_format=channels_last)]. Input 0 is
    // `self`.
    for (size_t i = 1; i < graph->inputs().size(); ++i) {
      auto* in = graph->inputs()[i];
      if (!in->type()->isSubtypeOf(*c10::TensorType::get())) {
        continue;
      }
      auto uses = in->uses();
      torch::jit::WithInsertPoint guard(graph->block()->param_node()->next());
      torch::jit::Value* v = graph->insert(c10::aten::to, {in, static_cast<int64_t>(st)});
      if (channels_last) {
        v = graph->insert(c10::aten::contiguous, {v},
                          {torch::jit::NamedValue("memory_format", static_cast<int64_t>(at::MemoryFormat::ChannelsLast))});
      }
      for (auto& u : uses) {
        u.user->replaceInput(u.offset, v);
      }
    }
    // Outputs: y -> y.to(float32).
    for (size_t i = 0; i < graph->outputs().size(); ++i) {
      if (float_outputs[i] == 0) {
        continue;
      }
      auto* out = graph->outputs()[i];
      torch::jit::WithInsertPoint guard(graph->return_node());
      auto* back = graph->insert(c10::aten::to, {out, static_cast<int64_t>(c10::ScalarType::Float)});
      graph->return_node()->replaceInput(i, back);
    }
    // The traced types name the old dtypes; later passes must not trust them.
    torch::jit::EraseShapeInformation(graph);
    torch::jit::EliminateDeadCode(graph);
  });
}

// Runs method `forward` on `inputs` without autograd; the single tensor output goes to *out.
char* tv_module_forward(tv_module m, tv_tensor* inputs, int ninputs, tv_tensor* out) {
  return guarded([&] {
    torch::NoGradGuard no_grad;
    std::vector<c10::IValue> args;
    for (int i = 0; i < ninputs; ++i) {
      args.emplace_back(*inputs[i]);
    }
    auto r = m->forward(std::move(args));
    if (!r.isTensor()) {
      throw std::runtime_error("forward returned a " + r.tagKind() + ", not a tensor");
    }
    *out = new at::Tensor(r.toTensor());
  });
}

// Runs `m.forward(input)` `runs` times with libtorch's oneDNN Graph fuser on for this thread,
// so that the executor, which optimises a graph after its profiling run, fuses this module's
// graph into oneDNN Graph partitions. *fused: whether the optimised graph holds a fusion group.
char* tv_module_warm_up_onednn_graph(tv_module m, tv_tensor input, int runs, int* fused) {
  return guarded([&] {
    torch::NoGradGuard no_grad;
    struct On {
      On() { onednn_graph_on = true; }
      ~On() { onednn_graph_on = false; }
    } on;
    for (int i = 0; i < runs; ++i) {
      m->forward({*input});
    }
    auto g = torch::jit::lastExecutedOptimizedGraph();
    std::ostringstream s;
    if (g) {
      s << *g;
    }
    *fused = s.str().find("prim::oneDNNFusionGroup") != std::string::npos ? 1 : 0;
  });
}

// The graph of method `forward`, as text.
char* tv_module_graph(tv_module m, char** out) {
  return guarded([&] {
    std::ostringstream s;
    s << *m->get_method("forward").graph();
    *out = dup(s.str());
  });
}

char* tv_module_save(tv_module m, const char* path) {
  return guarded([&] { m->save(path); });
}

// torch.jit.load(path, map_location=device) (-1: CPU; n: CUDA device n).
char* tv_module_load(const char* path, int device, tv_module* out) {
  return guarded([&] {
    c10::optional<c10::Device> dev;
    if (device >= 0) {
      dev = c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(device));
    } else {
      dev = c10::Device(c10::DeviceType::CPU);
    }
    *out = new Module(torch::jit::load(path, dev));
  });
}

// Moves and casts the parameters and buffers of `m` (Module::to).
char* tv_module_to(tv_module m, int device, int dtype) {
  return guarded([&] {
    c10::Device dev = device >= 0 ? c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(device))
                                  : c10::Device(c10::DeviceType::CPU);
    m->to(dev, static_cast<c10::ScalarType>(dtype));
  });
}

// Names of the parameters and buffers (state-dict order), each followed by '\n'.
char* tv_module_state_names(tv_module m, char** out) {
  return guarded([&] {
    std::string s;
    for (const auto& p : m->named_parameters()) {
      s += p.name + "\n";
    }
    for (const auto& b : m->named_buffers()) {
      s += b.name + "\n";
    }
    *out = dup(s);
  });
}

// Lets cuDNN convolutions and cuBLAS matmuls use TF32 (or not) for float32, as
// torch.backends.cudnn.allow_tf32 / torch.backends.cuda.matmul.allow_tf32.
void tv_set_allow_tf32(int on) {
  at::globalContext().setAllowTF32CuDNN(on != 0);
  at::globalContext().setAllowTF32CuBLAS(on != 0);
}

// Whether this build can capture CUDA graphs.
int tv_cuda_graphs_supported() {
#ifdef TCHVISION_CUDA_GRAPHS
  return 1;
#else
  return 0;
#endif
}

#ifdef TCHVISION_CUDA_GRAPHS
struct tv_graph_s {
  at::cuda::CUDAGraph graph;
  at::Tensor input;
  at::Tensor output;
};
#else
struct tv_graph_s {};
#endif
typedef tv_graph_s* tv_graph;

void tv_graph_free(tv_graph g) { delete g; }

// Captures `m.forward(input)` into a CUDA graph: `input` becomes the graph's static input
// (tv_graph_replay copies new values into it), the output its static output.
char* tv_graph_capture(tv_module m, tv_tensor input, tv_graph* out) {
#ifdef TCHVISION_CUDA_GRAPHS
  return guarded([&] {
    torch::NoGradGuard no_grad;
    auto g = std::make_unique<tv_graph_s>();
    g->input = input->clone();
    auto stream = c10::cuda::getStreamFromPool(false, g->input.device().index());
    {
      c10::cuda::CUDAStreamGuard sg(stream);
      // Warm-up on the side stream (cuDNN autotuning, profiling executor runs).
      for (int i = 0; i < 3; ++i) {
        m->forward({g->input});
      }
      stream.synchronize();
      g->graph.capture_begin();
      g->output = m->forward({g->input}).toTensor();
      g->graph.capture_end();
    }
    stream.synchronize();
    *out = g.release();
  });
#else
  (void)m;
  (void)input;
  (void)out;
  return dup("this build of tchvision has no CUDA-graph support (built without CUDA headers)");
#endif
}

// Copies `input` into the graph's static input, replays it, returns (a copy of) the output.
char* tv_graph_replay(tv_graph g, tv_tensor input, tv_tensor* out) {
#ifdef TCHVISION_CUDA_GRAPHS
  return guarded([&] {
    torch::NoGradGuard no_grad;
    g->input.copy_(*input);
    g->graph.replay();
    *out = new at::Tensor(g->output.clone());
  });
#else
  (void)g;
  (void)input;
  (void)out;
  return dup("this build of tchvision has no CUDA-graph support");
#endif
}

}  // extern "C"
