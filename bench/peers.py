"""The peers of each row, timed in this process with torch on the GPU.

torch is imported inside the functions only: the rest of bench/ runs (--small --dry-run) on a
machine without it. Every timing is triton.testing.do_bench's median (CUDA events, warm-up,
repeats); every peer runs once before it is timed, so compilation and autotuning stay out.
"""
import time


def _torch():
    import torch
    return torch


# The back-to-back median of the function do_bench timed last: the same calls issued one after
# the other without do_bench's L2 flush between them, each between two CUDA events (one call's
# end is the next one's start), as `spdc bench` times its back-to-back runs. run.py records it
# beside the do_bench median.
last_back_to_back_ms = None


def back_to_back(fn, iters):
    torch = _torch()
    events = [torch.cuda.Event(enable_timing=True) for _ in range(iters + 1)]
    events[0].record()
    for i in range(iters):
        fn()
        events[i + 1].record()
    torch.cuda.synchronize()
    times = sorted(events[i].elapsed_time(events[i + 1]) for i in range(iters))
    return times[len(times) // 2]


def do_bench(fn, warmup_ms, rep_ms):
    """do_bench's median; also sets last_back_to_back_ms (as many calls as do_bench's repetition
    time holds, 10 to 200)."""
    global last_back_to_back_ms
    from triton.testing import do_bench as triton_do_bench
    ms = float(triton_do_bench(fn, warmup=warmup_ms, rep=rep_ms, return_mode="median"))
    last_back_to_back_ms = back_to_back(fn, max(10, min(200, int(rep_ms / max(ms, 1e-3)))))
    return ms


def spdc_in_process(lib_path, bundle, timing, cache_dir=None, dependent_launch=True):
    """The spdc bundle timed by the same do_bench as the peers, in this process (libspdcrt
    through ctypes, bench/spdc_ctypes.py): inputs made up as `spdc bench` makes them, runs
    queued on a torch stream (a side stream: a run on stream NULL would be synchronous and on
    the model's own stream, outside the events), CUDA graph replays after three warm-up runs.
    Also sets last_back_to_back_ms."""
    torch = _torch()
    import spdc_ctypes
    lib = spdc_ctypes.Library(lib_path)
    stream = torch.cuda.Stream()
    with lib.context(cache_dir=cache_dir, use_dependent_launch=dependent_launch) as ctx, \
            ctx.load(bundle) as model, torch.cuda.stream(stream):
        model.bind_made_up_inputs()
        handle = stream.cuda_stream
        for _ in range(3):  # eager (tunes the matmuls), captured, replayed
            model.run(handle)
        stream.synchronize()
        ms = do_bench(lambda: model.run(handle), *timing)
        stream.synchronize()
    return ms


def device_name():
    torch = _torch()
    return torch.cuda.get_device_name(0)


def uniform(shape, dtype=None, seed=0):
    """Inputs in [-1, 1) like spdc bench's made-up ones (never zeros)."""
    torch = _torch()
    g = torch.Generator(device="cuda").manual_seed(seed)
    return (torch.rand(shape, generator=g, device="cuda", dtype=torch.float32) * 2 - 1).to(
        dtype or torch.bfloat16)


# -----------------------------------------------------------------------------------------------
# Kernel rows
# -----------------------------------------------------------------------------------------------

SDPA_BACKENDS = {"torch_sdpa_cudnn": "CUDNN_ATTENTION", "torch_sdpa_flash": "FLASH_ATTENTION"}


def attention_peer(peer, shapes, causal, timing):
    """SDPA on one backend. GQA (fewer K/V heads) goes in with enable_gqa=True; a backend that
    refuses it gets K/V repeated to the query's heads outside the timed region (noted)."""
    torch = _torch()
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    backend = getattr(SDPBackend, SDPA_BACKENDS[peer])
    q, k, v = (uniform(shapes[n], seed=i) for i, n in enumerate(("q", "k", "v")))
    note = None
    gqa = q.shape[1] != k.shape[1]
    with torch.inference_mode(), sdpa_kernel([backend]):
        if gqa:
            try:
                F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
                fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
                note = "enable_gqa=True"
            except RuntimeError as e:
                rep = q.shape[1] // k.shape[1]
                k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
                fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                note = (f"backend refused enable_gqa ({str(e).splitlines()[0][:120]}); K/V repeated to "
                        f"{q.shape[1]} heads outside the timed region")
        else:
            fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        fn()
        torch.cuda.synchronize()
        return do_bench(fn, *timing), note


def hf_functions():
    """HF's module code for the elementwise rows, as plain functions of tensors (built here so that
    torch is a closure variable, not an import inside the code torch.compile traces):
    LlamaRMSNorm.forward, apply_rotary_pos_emb on one tensor (cos/sin already [1, 1, s, d]) with
    rotate_half, and LlamaMLP's silu(gate) * up on the fused gate-and-up projection."""
    torch = _torch()
    F = torch.nn.functional

    def rmsnorm(x, weight, eps=1e-6):
        input_dtype = x.dtype
        h = x.to(torch.float32)
        variance = h.pow(2).mean(-1, keepdim=True)
        h = h * torch.rsqrt(variance + eps)
        return weight * h.to(input_dtype)

    def rotate_half(x):
        x1 = x[..., : x.shape[-1] // 2]
        x2 = x[..., x.shape[-1] // 2:]
        return torch.cat((-x2, x1), dim=-1)

    def rope(x, cos, sin):
        return (x * cos) + (rotate_half(x) * sin)

    def swiglu(x):
        inter = x.shape[-1] // 2
        return F.silu(x[..., :inter]) * x[..., inter:]

    return {"rmsnorm": rmsnorm, "rope": rope, "swiglu": swiglu}


def elementwise_peer(peer, row, shapes, timing):
    """torch_eager / torch_compile of the HF module code for rmsnorm, rope and swiglu."""
    torch = _torch()
    import numpy as np
    from graphs import rope_tables
    fns = hf_functions()
    x = uniform(shapes["x"])
    if row.startswith("rmsnorm"):
        w = (1.0 + 0.1 * torch.randn(x.shape[-1], device="cuda")).to(torch.bfloat16)
        f, args = fns["rmsnorm"], (x, w)
    elif row.startswith("rope"):
        cos, sin = rope_tables(x.shape[2], x.shape[3])
        args = (x, torch.from_numpy(np.ascontiguousarray(cos)).cuda().to(torch.bfloat16),
                torch.from_numpy(np.ascontiguousarray(sin)).cuda().to(torch.bfloat16))
        f = fns["rope"]
    elif row.startswith("swiglu"):
        f, args = fns["swiglu"], (x,)
    else:
        raise ValueError(row)
    if peer == "torch_compile":
        f = torch.compile(f, dynamic=False)
    elif peer != "torch_eager":
        raise ValueError(peer)
    with torch.inference_mode():
        f(*args)
        torch.cuda.synchronize()
        return do_bench(lambda: f(*args), *timing), None


# -----------------------------------------------------------------------------------------------
# Models: HF transformers with the weights export_hf_models.py gives its ONNX files
# -----------------------------------------------------------------------------------------------

def hf_config(arch, seq, layers=None, hidden=None, heads=None, kv_heads=None, inter=None, vocab=None,
              head_dim=None, attn="sdpa"):
    """The transformers config export_hf_models.py builds from the same flags (the same keyword
    spread over the names different families use), so that the same seeds give the same weights."""
    import transformers as T
    kw = {}

    def put(value, *names):
        if value is not None:
            for n in names:
                kw[n] = value
    put(layers, "num_hidden_layers", "n_layers")
    put(hidden, "hidden_size", "dim", "word_embed_proj_dim")
    put(heads, "num_attention_heads", "n_heads")
    put(kv_heads, "num_key_value_heads")
    put(inter, "intermediate_size", "ffn_dim", "hidden_dim", "n_inner")
    put(vocab, "vocab_size")
    if heads is not None and kv_heads is None:
        put(heads, "num_key_value_heads")
    if head_dim is None and hidden and heads:
        head_dim = hidden // heads
    put(head_dim, "head_dim")
    kw["max_position_embeddings"] = max(64, seq + 2)
    if arch == "gpt2":
        kw["n_positions"] = max(1024, seq)
    cfg = T.AutoConfig.for_model(arch, **kw)
    cfg._attn_implementation = attn
    return cfg


def hf_model(cfg, exact_weights=True):
    """A causal LM in bf16 on the GPU, eval mode. With exact_weights, initialized on the CPU as
    export_hf_models.py does (seed 0, then every parameter moved by N(0, 0.05) from a generator
    seeded 1), so torch and spdc run the same weights; else initialized on the GPU (faster; the
    timing does not depend on the values)."""
    torch = _torch()
    import transformers as T
    if exact_weights:
        torch.manual_seed(0)
        model = T.AutoModelForCausalLM.from_config(cfg)
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    else:
        torch.manual_seed(0)
        with torch.device("cuda"):
            model = T.AutoModelForCausalLM.from_config(cfg)
    return model.to(device="cuda", dtype=torch.bfloat16).eval()


def token_ids(cfg, batch, seq):
    torch = _torch()
    g = torch.Generator().manual_seed(2)
    return torch.randint(0, cfg.vocab_size, (batch, seq), generator=g).cuda()


def model_peer(peer, model, ids, timing, modes=None, compile_modes=("default", "reduce-overhead")):
    """torch_sdpa: the HF model as is (attn_implementation="sdpa"); torch_compile: torch.compile
    of it (static shapes), in its default mode and with CUDA graphs ("reduce-overhead", which
    removes the Python launch overhead that dominates small batches): the faster of the two is
    the peer's time, and `modes` (a dict, optional) gets each mode's median. Returns (median ms,
    first call seconds of the default mode, or None)."""
    global last_back_to_back_ms
    torch = _torch()
    first_call_s = None
    with torch.inference_mode():
        if peer == "torch_compile":
            best = best_back_to_back = None
            for mode in compile_modes:
                try:
                    torch._dynamo.reset()
                    compiled = torch.compile(model, dynamic=False, mode=mode)
                    fn = lambda: compiled(input_ids=ids, use_cache=False).logits
                    torch.cuda.synchronize()
                    t = time.perf_counter()
                    fn()
                    torch.cuda.synchronize()
                    if mode == "default":
                        first_call_s = time.perf_counter() - t
                    for _ in range(3):  # reduce-overhead records its graphs on the first calls
                        fn()
                    ms = do_bench(fn, *timing)
                except Exception as e:  # noqa: BLE001
                    if modes is not None:
                        modes[mode] = f"error: {type(e).__name__}: {e}"[:200]
                    continue
                if modes is not None:
                    modes[mode] = round(ms, 4)
                if best is None or ms < best:
                    best, best_back_to_back = ms, last_back_to_back_ms
            if best is None:
                raise RuntimeError(f"torch.compile failed in every mode: {modes}")
            last_back_to_back_ms = best_back_to_back
            return best, first_call_s
        elif peer == "torch_sdpa":
            fn = lambda: model(input_ids=ids, use_cache=False).logits
            fn()
            torch.cuda.synchronize()
        else:
            raise ValueError(peer)
        return do_bench(fn, *timing), first_call_s


def compile_first_call(arch_kwargs, batch, seq, exact_weights):
    """For a fresh process: the wall time of the first call of torch.compile(model), compilation
    included, and the model's timing after it."""
    torch = _torch()
    cfg = hf_config(**arch_kwargs, seq=seq)
    model = hf_model(cfg, exact_weights)
    ids = token_ids(cfg, batch, seq)
    ms, first = model_peer("torch_compile", model, ids, (25, 100), compile_modes=("default",))
    return {"first_call_s": first, "median_ms": ms, "device": torch.cuda.get_device_name(0)}


def free_memory():
    torch = _torch()
    import gc
    gc.collect()
    torch.cuda.empty_cache()
    try:
        torch._dynamo.reset()
    except Exception:
        pass
