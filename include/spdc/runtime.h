/*===- spdc/runtime.h - the spdc runtime C API ----------------------------===*
 *
 * Runs .spdc bundles written by the spdc compiler on a CUDA GPU. Plain C, no MLIR/LLVM; the
 * library (libspdcrt) loads the CUDA driver with dlopen, so it loads and reports
 * SPDC_STATUS_NO_DEVICE on machines without a GPU instead of failing to start.
 *
 * Conventions (after IREE's runtime API):
 *  - every function returns spdc_status_t (0 = ok); on failure spdc_last_error() gives a
 *    readable message, kept per thread until the next failing call on that thread;
 *  - objects are opaque handles with *_retain / *_release; release(NULL) is a no-op;
 *  - out_* parameters are set to NULL/0 first, so they are defined on failure too;
 *  - option structs are filled with defaults by *_options_initialize().
 *
 * Threading: a context may be used from any thread, and models of one context may run
 * concurrently on different threads. One model is not thread-safe: bind and run it from one
 * thread at a time (or serialize the calls yourself).
 *
 * Dynamic dimensions: a bundle compiled from a model with dynamic input dimensions (batch,
 * sequence length) runs for any shape without recompiling. Give each input with dynamic
 * dimensions its shape (spdc_model_set_input_shape), then bind inputs and outputs of the sizes
 * those shapes imply (spdc_model_output_shape gives the outputs'). The model keeps what it
 * prepares per shape (the plan's sizes, tuned matmuls, a CUDA graph) for the few shapes used
 * most recently, and one device arena grown to the largest shape run so far.
 *
 *===----------------------------------------------------------------------===*/

#ifndef SPDC_RUNTIME_H
#define SPDC_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define SPDC_API
#else
#define SPDC_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum spdc_status_e {
  SPDC_STATUS_OK = 0,
  SPDC_STATUS_INVALID_ARGUMENT = 1,    /* NULL handle, index out of range, size mismatch */
  SPDC_STATUS_NOT_FOUND = 2,           /* a file that does not exist */
  SPDC_STATUS_INVALID_BUNDLE = 3,      /* corrupt, truncated or other-version bundle */
  SPDC_STATUS_NO_DEVICE = 4,           /* no driver, no GPU, or no such device index */
  SPDC_STATUS_COMPILE_ERROR = 5,       /* NVRTC failed; the log is in spdc_last_error() */
  SPDC_STATUS_CUDA_ERROR = 6,          /* a CUDA driver or cuBLASLt call failed */
  SPDC_STATUS_OUT_OF_MEMORY = 7,       /* device allocation failed */
  SPDC_STATUS_FAILED_PRECONDITION = 8, /* e.g. running with an unbound input */
  SPDC_STATUS_INTERNAL = 9,
} spdc_status_t;

/* Element types; the values are those of the bundle format. */
typedef enum spdc_dtype_e {
  SPDC_DTYPE_F32 = 0,
  SPDC_DTYPE_F16 = 1,
  SPDC_DTYPE_BF16 = 2,
  SPDC_DTYPE_F64 = 3,
  SPDC_DTYPE_I64 = 4,
  SPDC_DTYPE_I32 = 5,
  SPDC_DTYPE_I16 = 6,
  SPDC_DTYPE_I8 = 7,
  SPDC_DTYPE_U8 = 8,
  SPDC_DTYPE_U16 = 9,
  SPDC_DTYPE_U32 = 10,
  SPDC_DTYPE_U64 = 11,
  SPDC_DTYPE_BOOL = 12,
} spdc_dtype_t;

/* Where bound data lives. */
typedef enum spdc_memory_e {
  /* Host memory: copied to/from the device by each run. */
  SPDC_MEMORY_HOST = 0,
  /* A CUdeviceptr (cast to void *) on the context's device: used in place. */
  SPDC_MEMORY_DEVICE = 1,
} spdc_memory_t;

/* A CUDA stream: CUstream and cudaStream_t are both `struct CUstream_st *`. */
typedef struct CUstream_st *spdc_cuda_stream_t;

typedef struct spdc_context_t spdc_context_t;
typedef struct spdc_model_t spdc_model_t;

/* Message of the last failed call on this thread ("" if none). Owned by the library, valid
 * until the next spdc call on this thread. Thread-safe. */
SPDC_API const char *spdc_last_error(void);

/* Name of a status ("SPDC_STATUS_NO_DEVICE"). Static string. Thread-safe. */
SPDC_API const char *spdc_status_string(spdc_status_t status);

/* Version of the library ("0.1.0"). Static string. Thread-safe. */
SPDC_API const char *spdc_version(void);

/*===--- context: one device --------------------------------------------===*/

typedef struct spdc_context_options_t {
  int device;            /* CUDA device ordinal; default 0 */
  const char *cache_dir; /* JIT cache; NULL = $XDG_CACHE_HOME/spdc or ~/.cache/spdc */
  int use_cache;         /* nonzero: read and write the JIT cache; default 1 */
  int use_cuda_graphs;   /* nonzero: capture a run into a CUDA graph and replay it; default 1 */
  const char
      *cuda_include_dir; /* CUDA headers for NVRTC; NULL = found next to NVRTC or $CUDA_HOME */
  int use_dependent_launch; /* nonzero: on sm_90+, launch each kernel that allows it with
                               programmatic dependent launch, so that it is scheduled while the
                               previous kernel drains; default 1 */
} spdc_context_options_t;

/* Fills `options` with the defaults. Thread-safe. */
SPDC_API void spdc_context_options_initialize(spdc_context_options_t *options);

/* Creates a context on options->device (options may be NULL for the defaults). Strings in
 * options are copied. The caller owns *out_context (release it). Fails with
 * SPDC_STATUS_NO_DEVICE ("no CUDA device: ...") without a driver or a GPU. Thread-safe. */
SPDC_API spdc_status_t spdc_context_create(const spdc_context_options_t *options,
                                           spdc_context_t **out_context);

/* Reference counting; the context lives until its last reference and its last model are
 * released. Thread-safe. */
SPDC_API void spdc_context_retain(spdc_context_t *context);
SPDC_API void spdc_context_release(spdc_context_t *context);

typedef struct spdc_device_info_t {
  char name[256];   /* "NVIDIA H100 80GB HBM3" */
  int major, minor; /* compute capability */
  char arch[16];    /* what NVRTC compiles for: "sm_90a" */
  uint64_t total_memory;
} spdc_device_info_t;

/* The context's device. Thread-safe. */
SPDC_API spdc_status_t spdc_context_device_info(const spdc_context_t *context,
                                                spdc_device_info_t *out_info);

/*===--- device memory ---------------------------------------------------===*/

/* Allocates `bytes` of device memory on the context's device (256-byte aligned), for
 * SPDC_MEMORY_DEVICE bindings; *out_ptr is the CUdeviceptr cast to void *. Free it with
 * spdc_device_free. Thread-safe. */
SPDC_API spdc_status_t spdc_device_alloc(spdc_context_t *context, size_t bytes, void **out_ptr);

/* Frees memory from spdc_device_alloc (NULL is a no-op). Thread-safe. */
SPDC_API spdc_status_t spdc_device_free(spdc_context_t *context, void *ptr);

/* Copies `bytes` between host and device memory (either way, or device to device) and waits for
 * the copy. Thread-safe. */
SPDC_API spdc_status_t spdc_memcpy(spdc_context_t *context, void *dst, spdc_memory_t dst_memory,
                                   const void *src, spdc_memory_t src_memory, size_t bytes);

/*===--- model: a loaded bundle -----------------------------------------===*/

/* Reads and validates the bundle at `bundle_path` as spdc_model_load does (magic, format
 * version, checksum, the plan's references), without a device or a context: SPDC_STATUS_NOT_FOUND
 * for a missing file, SPDC_STATUS_INVALID_BUNDLE (spdc_last_error says what is wrong) for one
 * that is not a valid bundle. Lets a tool name a bad file before it looks for a GPU.
 * Thread-safe. */
SPDC_API spdc_status_t spdc_bundle_validate(const char *bundle_path);

/* Reads and validates the bundle at `bundle_path`, compiles its CUDA source for the device
 * (NVRTC, through the on-disk cache; a precompiled cubin for the device's arch is used when the
 * bundle has one), loads the module, uploads the weights and allocates the arena. The model keeps
 * a reference to `context`. The caller owns *out_model. Thread-safe (per call). */
SPDC_API spdc_status_t spdc_model_load(spdc_context_t *context, const char *bundle_path,
                                       spdc_model_t **out_model);

/* Reference counting; releasing the last reference frees device memory, graphs and the module,
 * after waiting for the model's own stream. Not while a run is being issued on another thread. */
SPDC_API void spdc_model_retain(spdc_model_t *model);
SPDC_API void spdc_model_release(spdc_model_t *model);

typedef struct spdc_tensor_info_t {
  const char *name; /* owned by the model */
  spdc_dtype_t dtype;
  size_t rank;
  const int64_t *dims; /* `rank` entries as declared, -1 for a dynamic dimension; owned by the
                          model */
  size_t bytes;        /* total size; 0 when a dimension is dynamic (the size then follows the
                          current shape: spdc_model_set_input_shape, spdc_model_output_shape) */
} spdc_tensor_info_t;

/* Where the model's kernels came from, for logs and start-up diagnostics: "bundle cubin sm_90a"
 * (precompiled, NVRTC skipped), "NVRTC sm_90a" (compiled at load), "JIT cache sm_90a" (compiled
 * by an earlier load) or "none" (a plan of matmuls and copies only). Static or owned by the
 * model. Thread-safe. */
SPDC_API spdc_status_t spdc_model_code_origin(const spdc_model_t *model, const char **out_origin);

/* Counts and descriptions of the model's inputs and outputs (in the ONNX graph's order).
 * Pointers in *out_info stay valid until the model is released. Thread-safe. */
SPDC_API spdc_status_t spdc_model_input_count(const spdc_model_t *model, size_t *out_count);
SPDC_API spdc_status_t spdc_model_output_count(const spdc_model_t *model, size_t *out_count);
SPDC_API spdc_status_t spdc_model_input_info(const spdc_model_t *model, size_t index,
                                             spdc_tensor_info_t *out_info);
SPDC_API spdc_status_t spdc_model_output_info(const spdc_model_t *model, size_t index,
                                              spdc_tensor_info_t *out_info);

/* Sets the shape of input `index` for the next runs: `rank` dims (the declared rank), each >= 0,
 * the static ones equal to the declared ones. Required before binding an input with dynamic
 * dimensions (spdc_tensor_info_t dims of -1); for a static input it is accepted when it repeats
 * the declared shape. Inputs that share a dynamic dimension (the batch of input_ids and of
 * attention_mask) must agree: that is checked when the shapes are used (spdc_model_output_shape,
 * binding an output, a run), so the shapes may be changed one input after the other. Changing
 * a shape leaves the bindings as they are; a run refuses (SPDC_STATUS_FAILED_PRECONDITION) a
 * binding whose size no longer fits. Copies `dims`. One thread per model. */
SPDC_API spdc_status_t spdc_model_set_input_shape(spdc_model_t *model, size_t index,
                                                  const int64_t *dims, size_t rank);

/* Binds input `index` to `data` (`bytes` must equal the input's size for its current shape: an
 * input with dynamic dimensions needs spdc_model_set_input_shape first). Host data is read by
 * each run (the caller keeps it valid until the run has consumed it: until spdc_model_run
 * returns for a synchronous run, until the stream reaches the run otherwise); device data is read
 * in place. The model does not own `data`. Device pointers must be 16-byte aligned. One thread
 * per model. */
SPDC_API spdc_status_t spdc_model_bind_input(spdc_model_t *model, size_t index, const void *data,
                                             spdc_memory_t memory, size_t bytes);

/* Binds output `index` to `data` (`bytes` must equal the output's size for the current input
 * shapes, see spdc_model_output_shape); written by each run. */
SPDC_API spdc_status_t spdc_model_bind_output(spdc_model_t *model, size_t index, void *data,
                                              spdc_memory_t memory, size_t bytes);

/* The pitch, in elements, of rows the model can write output `index` in without packing them:
 * a last dimension whose rows are not a multiple of 16 bytes (GPT-2's 50257-word logits) is
 * computed in rows padded to 16 bytes (50264), which keeps cuBLASLt on its fast kernels, and a
 * contiguous binding then costs a packing kernel per run. *out_row_pitch = 0 when the output has
 * no such layout. Thread-safe. */
SPDC_API spdc_status_t spdc_model_output_row_pitch(const spdc_model_t *model, size_t index,
                                                   int64_t *out_row_pitch);

/* Binds output `index` to device memory whose rows lie `row_pitch` elements apart, the pitch
 * spdc_model_output_row_pitch gives: `bytes` = row_pitch times the element size times every
 * dimension but the last, for the current input shapes; `data` 256-byte aligned (as cuMemAlloc
 * returns). Each run writes the rows there in place and skips the packing kernel; the elements
 * between a row's end and the next row are unspecified. The model does not own `data`. One
 * thread per model. */
SPDC_API spdc_status_t spdc_model_bind_output_pitched(spdc_model_t *model, size_t index,
                                                      void *data, size_t bytes,
                                                      int64_t row_pitch);

/* Runs the plan once with the bound inputs and outputs, for the current input shapes. stream ==
 * NULL: synchronous, outputs are ready on return. Otherwise the work is queued on `stream` (a
 * CUstream of the context's device) and the call returns without waiting; synchronize the stream
 * before reading outputs. Runs of one model share its buffers (and its kernels' work queues): do
 * not let runs on different streams overlap. With use_cuda_graphs, the first run of a shape with a given set of bound
 * device addresses runs eagerly (and tunes the shape's matmuls), the second captures a CUDA
 * graph, and later ones replay it; each of the 8 most recently run shapes keeps its graph. A
 * shape that needs a larger arena than any before reallocates it (after waiting for the device)
 * and captures again. Fails with SPDC_STATUS_INVALID_ARGUMENT when an input with dynamic
 * dimensions has no shape (the message names it) or the input shapes disagree. One thread per
 * model. */
SPDC_API spdc_status_t spdc_model_run(spdc_model_t *model, spdc_cuda_stream_t stream);

/* Shape of output `index` for the current input shapes (its declared shape when static).
 * Writes up to `capacity` dims and the rank to *out_rank. Fails with
 * SPDC_STATUS_INVALID_ARGUMENT when the output has dynamic dimensions and an input with dynamic
 * dimensions has no shape yet, or the input shapes disagree. Thread-safe, but not concurrently
 * with spdc_model_set_input_shape or a run of the same model. */
SPDC_API spdc_status_t spdc_model_output_shape(const spdc_model_t *model, size_t index,
                                               int64_t *dims, size_t capacity, size_t *out_rank);

/*===--- profiling (spdc bench) ------------------------------------------===*/

/* Times `iterations` runs of the current input shapes issued back to back on the model's stream,
 * exactly as spdc_model_run issues them (input/output copies of host bindings and CUDA graph replay included), with an
 * event before and after each run and one synchronization at the end: out_ms[i] gets run i's
 * device time in milliseconds (`iterations` entries). Run the model at least twice first when
 * the timings should be of graph replays. One thread per model. */
SPDC_API spdc_status_t spdc_model_time(spdc_model_t *model, int iterations, float *out_ms);

/* As spdc_model_time, but each run starts with its data out of the GPU's caches, as
 * triton.testing.do_bench times PyTorch: before each run, outside the timed interval, the stream
 * writes `flush_bytes` of scratch device memory (256 MB is do_bench's choice; larger than any
 * GPU's L2). The scratch is allocated for the call and freed before it returns. flush_bytes 0
 * is spdc_model_time. One thread per model. */
SPDC_API spdc_status_t spdc_model_time_flushed(spdc_model_t *model, int iterations,
                                               size_t flush_bytes, float *out_ms);

typedef struct spdc_profile_entry_t {
  const char *label; /* the ONNX node(s) of the step; owned by the model */
  const char *kind;  /* "kernel", "gemm" or "copy" (static) */
  const char *name;  /* kernel name, "cublasLt" or "memcpy"; owned by the model */
  double start_ms;   /* start relative to the first step, in the fastest iteration */
  double mean_ms;    /* over iterations */
  double min_ms;
} spdc_profile_entry_t;

/* Number of steps in the plan (= entries a profile fills). Thread-safe. */
SPDC_API spdc_status_t spdc_model_step_count(const spdc_model_t *model, size_t *out_count);

/* Runs the bound plan (for the current input shapes) `iterations` times without graphs, timing
 * every step with CUDA events, and fills entries[0 .. min(capacity, steps)) (entries may be NULL
 * when capacity is 0). *out_total_ms (optional) gets the median time of one whole run.
 * Synchronizes the device. One thread per model. */
SPDC_API spdc_status_t spdc_model_profile(spdc_model_t *model, int iterations,
                                          spdc_profile_entry_t *entries, size_t capacity,
                                          double *out_total_ms);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SPDC_RUNTIME_H */
