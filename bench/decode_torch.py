"""PyTorch SDPA on the decode benchmark row (b8 hq32 hkv8, one query, kvLen 8192, d128, bf16),
flash and cuDNN backends, plus a device-to-device copy of the K+V bytes for the bandwidth
ceiling; medians of triton.testing.do_bench. Prints one line per measurement."""
import torch
import triton
from torch.nn.attention import SDPBackend, sdpa_kernel

B, HQ, HKV, S, D = 8, 32, 8, 8192, 128
dev = "cuda"
q = torch.randn(B, HQ, 1, D, device=dev, dtype=torch.bfloat16)
k = torch.randn(B, HKV, S, D, device=dev, dtype=torch.bfloat16)
v = torch.randn(B, HKV, S, D, device=dev, dtype=torch.bfloat16)
kv_bytes = 2 * k.numel() * k.element_size()

ref = torch.nn.functional.scaled_dot_product_attention(
    q.float(), k.float().repeat_interleave(HQ // HKV, 1), v.float().repeat_interleave(HQ // HKV, 1))
for name, backend in [("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION),
                      ("efficient", SDPBackend.EFFICIENT_ATTENTION)]:
    try:
        with sdpa_kernel(backend):
            f = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True)
            out = f()
            err = ((out.float() - ref).norm() / ref.norm()).item()
            ms = triton.testing.do_bench(f, warmup=50, rep=300, return_mode="median")
        print(f"torch sdpa {name}: {ms:.4f} ms, {kv_bytes / ms / 1e6:.0f} GB/s (rel L2 {err:.2e})")
    except Exception as e:  # a backend that refuses the shape
        print(f"torch sdpa {name}: unavailable ({type(e).__name__}: {str(e)[:80]})")

src = torch.empty(kv_bytes // 2, device=dev, dtype=torch.bfloat16)
dst = torch.empty_like(src)
ms = triton.testing.do_bench(lambda: dst.copy_(src), warmup=50, rep=300, return_mode="median")
print(f"copy d2d {kv_bytes / 1e6:.0f} MB: {ms:.4f} ms, {2 * kv_bytes / ms / 1e6:.0f} GB/s (read+write)")
