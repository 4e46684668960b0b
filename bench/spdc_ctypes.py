"""libspdcrt through ctypes, for timing a bundle in the peers' own process.

`spdc bench` times a bundle with its own CUDA events and its own cache flush; this module lets
run.py time the same bundle with the very do_bench call that times the peers (the same flush
kernel, the same events, the same stream), so that the two sides differ only in what they run.
It binds the C API of include/spdc/runtime.h; inputs and outputs are torch tensors on the
device, filled as `spdc bench` fills its made-up inputs.

    lib = spdc_ctypes.Library("/path/to/libspdcrt.so")
    with lib.context() as ctx, ctx.load("model.spdc") as model:
        model.bind_made_up_inputs()
        model.run(torch.cuda.current_stream().cuda_stream)
"""
import ctypes
import os


class SpdcError(RuntimeError):
    pass


class _ContextOptions(ctypes.Structure):
    _fields_ = [("device", ctypes.c_int), ("cache_dir", ctypes.c_char_p),
                ("use_cache", ctypes.c_int), ("use_cuda_graphs", ctypes.c_int),
                ("cuda_include_dir", ctypes.c_char_p), ("use_dependent_launch", ctypes.c_int)]


class _TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_size_t),
                ("dims", ctypes.POINTER(ctypes.c_int64)), ("bytes", ctypes.c_size_t)]


# spdc_dtype_t -> torch dtype name.
_DTYPES = {0: "float32", 1: "float16", 2: "bfloat16", 3: "float64", 4: "int64", 5: "int32",
           6: "int16", 7: "int8", 8: "uint8", 12: "bool"}
_MEMORY_DEVICE = 1
# `spdc bench`'s made-up token ids stay below this (lib/Driver/Run.cpp, kTokenRange).
_TOKEN_RANGE = 97


def find_library(spdc_binary):
    """libspdcrt.so beside the spdc binary (a staged folder) or in the build tree's lib/."""
    here = os.path.dirname(os.path.abspath(spdc_binary))
    for d in (here, os.path.join(here, "..", "lib")):
        p = os.path.join(d, "libspdcrt.so")
        if os.path.exists(p):
            return os.path.realpath(p)
    return None


class Library:
    def __init__(self, path):
        try:
            self.lib = ctypes.CDLL(path)
        except OSError:
            # NVRTC and cuBLASLt from the toolkit when this process's library path lacks them
            # (the staged spdc gets them through SPDC_LD_LIBRARY_PATH, python does not).
            cuda = os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "lib64")
            for name in sorted(os.listdir(cuda)) if os.path.isdir(cuda) else []:
                if name.startswith(("libnvrtc.so.", "libcublasLt.so.", "libcublas.so.")) and \
                        name.count(".") == 2:
                    ctypes.CDLL(os.path.join(cuda, name), mode=ctypes.RTLD_GLOBAL)
            self.lib = ctypes.CDLL(path)
        L = self.lib
        P = ctypes.c_void_p
        L.spdc_last_error.restype = ctypes.c_char_p
        L.spdc_context_options_initialize.argtypes = [ctypes.POINTER(_ContextOptions)]
        L.spdc_context_create.argtypes = [ctypes.POINTER(_ContextOptions), ctypes.POINTER(P)]
        L.spdc_context_release.argtypes = [P]
        L.spdc_model_load.argtypes = [P, ctypes.c_char_p, ctypes.POINTER(P)]
        L.spdc_model_release.argtypes = [P]
        for f in (L.spdc_model_input_count, L.spdc_model_output_count):
            f.argtypes = [P, ctypes.POINTER(ctypes.c_size_t)]
        for f in (L.spdc_model_input_info, L.spdc_model_output_info):
            f.argtypes = [P, ctypes.c_size_t, ctypes.POINTER(_TensorInfo)]
        for f in (L.spdc_model_bind_input, L.spdc_model_bind_output):
            f.argtypes = [P, ctypes.c_size_t, P, ctypes.c_int, ctypes.c_size_t]
        L.spdc_model_output_row_pitch.argtypes = [P, ctypes.c_size_t,
                                                  ctypes.POINTER(ctypes.c_int64)]
        L.spdc_model_bind_output_pitched.argtypes = [P, ctypes.c_size_t, P, ctypes.c_size_t,
                                                     ctypes.c_int64]
        L.spdc_model_run.argtypes = [P, P]
        for f in (L.spdc_context_create, L.spdc_model_load, L.spdc_model_input_count,
                  L.spdc_model_output_count, L.spdc_model_input_info, L.spdc_model_output_info,
                  L.spdc_model_bind_input, L.spdc_model_bind_output,
                  L.spdc_model_output_row_pitch, L.spdc_model_bind_output_pitched,
                  L.spdc_model_run):
            f.restype = ctypes.c_int

    def check(self, status, what):
        if status != 0:
            raise SpdcError(f"{what}: {self.lib.spdc_last_error().decode(errors='replace')}")

    def context(self, cache_dir=None, use_cuda_graphs=True, use_dependent_launch=True):
        return Context(self, cache_dir, use_cuda_graphs, use_dependent_launch)


class Context:
    def __init__(self, lib, cache_dir, use_cuda_graphs, use_dependent_launch):
        self.lib = lib
        opts = _ContextOptions()
        lib.lib.spdc_context_options_initialize(ctypes.byref(opts))
        self._cache_dir = cache_dir.encode() if cache_dir else None  # kept alive for the call
        if self._cache_dir:
            opts.cache_dir = self._cache_dir
        opts.use_cuda_graphs = int(use_cuda_graphs)
        opts.use_dependent_launch = int(use_dependent_launch)
        self.handle = ctypes.c_void_p()
        lib.check(lib.lib.spdc_context_create(ctypes.byref(opts), ctypes.byref(self.handle)),
                  "spdc_context_create")

    def load(self, bundle):
        return Model(self, bundle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.lib.lib.spdc_context_release(self.handle)


class Model:
    def __init__(self, ctx, bundle):
        self.lib = ctx.lib
        self.bundle = bundle
        self.handle = ctypes.c_void_p()
        self.lib.check(self.lib.lib.spdc_model_load(ctx.handle, bundle.encode(),
                                                    ctypes.byref(self.handle)),
                       f"spdc_model_load({bundle})")
        self.tensors = []  # what the bindings point at, kept alive with the model

    def _infos(self, count_fn, info_fn):
        n = ctypes.c_size_t()
        self.lib.check(count_fn(self.handle, ctypes.byref(n)), "count")
        out = []
        for i in range(n.value):
            info = _TensorInfo()
            self.lib.check(info_fn(self.handle, i, ctypes.byref(info)), "info")
            dims = [info.dims[d] for d in range(info.rank)]
            name = info.name.decode()
            if any(d < 0 for d in dims):
                raise SpdcError(f"{self.bundle}: '{name}' has dynamic dimensions {dims}; "
                                "only bundles of static shapes are timed in process")
            if info.dtype not in _DTYPES:
                raise SpdcError(f"{self.bundle}: '{name}' has element type {info.dtype}, "
                                "which this binding does not make up")
            out.append((name, _DTYPES[info.dtype], dims, info.bytes))
        return out

    def bind_made_up_inputs(self):
        """Inputs as `spdc bench` makes them up: floats (i * 7919 % 2001) / 1000 - 1, token ids
        i * 7919 % 97, masks and booleans 1; outputs in the padded rows the model computes them
        in, as `spdc bench` binds them."""
        import torch
        L = self.lib.lib
        for i, (name, dtype, dims, nbytes) in enumerate(
                self._infos(L.spdc_model_input_count, L.spdc_model_input_info)):
            n = 1
            for d in dims:
                n *= d
            idx = torch.arange(n, device="cuda", dtype=torch.int64) * 7919
            if dtype in ("float32", "float16", "bfloat16", "float64"):
                t = ((idx % 2001).to(torch.float32) / 1000.0 - 1.0).to(getattr(torch, dtype))
            elif dtype == "bool" or "mask" in name.lower():
                t = torch.ones(n, device="cuda", dtype=getattr(torch, dtype))
            else:
                t = (idx % _TOKEN_RANGE).to(getattr(torch, dtype))
            t = t.reshape(dims).contiguous()
            self.tensors.append(t)
            self.lib.check(L.spdc_model_bind_input(self.handle, i, ctypes.c_void_p(t.data_ptr()),
                                                   _MEMORY_DEVICE, nbytes),
                           f"binding input '{name}'")
        for i, (name, dtype, dims, nbytes) in enumerate(
                self._infos(L.spdc_model_output_count, L.spdc_model_output_info)):
            pitch = ctypes.c_int64()
            self.lib.check(L.spdc_model_output_row_pitch(self.handle, i, ctypes.byref(pitch)),
                           "row pitch")
            rows = nbytes // max(1, dims[-1] * _elem_size(dtype)) if dims else 1
            if pitch.value:
                t = torch.empty((rows, pitch.value), device="cuda", dtype=getattr(torch, dtype))
                self.lib.check(L.spdc_model_bind_output_pitched(
                    self.handle, i, ctypes.c_void_p(t.data_ptr()),
                    t.numel() * t.element_size(), pitch.value), f"binding output '{name}'")
            else:
                t = torch.empty(dims, device="cuda", dtype=getattr(torch, dtype))
                self.lib.check(L.spdc_model_bind_output(self.handle, i,
                                                        ctypes.c_void_p(t.data_ptr()),
                                                        _MEMORY_DEVICE, nbytes),
                               f"binding output '{name}'")
            self.tensors.append(t)

    def run(self, stream):
        """Queues one run on `stream` (an int handle, e.g. torch's current_stream().cuda_stream)."""
        self.lib.check(self.lib.lib.spdc_model_run(self.handle, ctypes.c_void_p(stream)),
                       "spdc_model_run")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.lib.lib.spdc_model_release(self.handle)
        self.tensors = []


def _elem_size(dtype):
    return {"float64": 8, "int64": 8, "float32": 4, "int32": 4, "float16": 2, "bfloat16": 2,
            "int16": 2, "int8": 1, "uint8": 1, "bool": 1}[dtype]
