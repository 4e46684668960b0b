//===- mma.cuh - Tensor-core and async-copy building blocks ---------------===//
//
// Warp-level pieces shared by the attention kernels (attention.cuh, attention_decode.cuh):
// mma.sync m16n8k16 with f32 accumulators, ldmatrix, 16-byte cp.async with its commit and wait,
// mbarriers and named barriers, cluster barriers and distributed shared memory, base-2
// exponentials and the f16/bf16 pair packing of A fragments. Each compiles to nothing below
// the architecture that has it (sm_80, or sm_90 for the clusters and bulk copies), where no
// kernel calls it.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "spdc/kernels/common.cuh"

namespace spdc {
namespace kernels {

template <class T>
__device__ __forceinline__ void mma16816(float (&c)[4], const unsigned (&a)[4],
                                         unsigned b0, unsigned b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (IsSame<T, __half>::value)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// Two 8x8 b16 matrices, transposed: rows addressed by lanes 0-15.
__device__ __forceinline__ void ldmatrixX2Trans(unsigned &r0, unsigned &r1, const void *smem) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r0), "=r"(r1)
               : "r"(addr));
#endif
}

__device__ __forceinline__ unsigned smemAddr(const void *p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// L2's evict-first cache policy, for the copies below that take one (data read once). Make it
// once per thread, outside the copy loops.
__device__ __forceinline__ unsigned long long l2EvictFirstPolicy() {
  unsigned long long policy = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
#endif
  return policy;
}

// 16 bytes global -> shared, asynchronously; srcBytes 0 writes zeros and reads nothing.
// L2Prefetch 256: L2 also fetches the rest of the 256-byte block (a streaming hint).
// WithPolicy: the copy carries the L2 cache policy `policy` (l2EvictFirstPolicy).
template <int L2Prefetch = 0, bool WithPolicy = false>
__device__ __forceinline__ void cpAsync16(unsigned dst, const void *src, unsigned srcBytes,
                                          unsigned long long policy = 0) {
  static_assert(L2Prefetch == 0 || L2Prefetch == 256, "no L2 prefetch, or 256 bytes");
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (WithPolicy && L2Prefetch == 0)
    asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2, %3;\n" ::"r"(dst),
                 "l"(src), "r"(srcBytes), "l"(policy)
                 : "memory");
  else if constexpr (WithPolicy)
    asm volatile("cp.async.cg.shared.global.L2::cache_hint.L2::256B [%0], [%1], 16, %2, %3;\n" ::
                     "r"(dst),
                 "l"(src), "r"(srcBytes), "l"(policy)
                 : "memory");
  else if constexpr (L2Prefetch == 0)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
                 "r"(srcBytes)
                 : "memory");
  else
    asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16, %2;\n" ::"r"(dst),
                 "l"(src), "r"(srcBytes)
                 : "memory");
#endif
}
__device__ __forceinline__ void cpAsyncCommit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
// Waits until at most N of this thread's committed groups are still in flight.
template <int N> __device__ __forceinline__ void cpAsyncWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

// mbarrier: a 64-bit shared-memory barrier object whose phase completes once `count` arrivals
// have been made; waiters name the phase by its parity (0 for the first, then 1, 0, ...). A wait
// on the parity of the phase before the current one returns at once, which is how producers
// pass their first wait on a fresh "empty" barrier.
__device__ __forceinline__ void mbarInit(unsigned bar, unsigned count) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("mbarrier.init.shared.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
#endif
}
// One arrival, with release semantics: the thread's earlier shared-memory writes are visible
// to threads that then complete a wait on this phase.
__device__ __forceinline__ void mbarArrive(unsigned bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.shared.b64 st, [%0];\n}\n" ::"r"(bar)
               : "memory");
#endif
}
// One arrival, made when every cp.async this thread issued before it has landed (the arrival
// is one of the phase's `count`, not an extra one).
__device__ __forceinline__ void mbarArriveOnCopies(unsigned bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.mbarrier.arrive.noinc.shared.b64 [%0];\n" ::"r"(bar) : "memory");
#endif
}
// try_wait (sm_90) may suspend the thread until the phase completes or a time limit passes;
// test_wait (sm_80) only tests. Either way the loop polls until the phase has completed.
__device__ __forceinline__ void mbarWait(unsigned bar, unsigned parity) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#if __CUDA_ARCH__ >= 900
#define SPDC_MBAR_TEST "mbarrier.try_wait.parity.shared.b64"
#else
#define SPDC_MBAR_TEST "mbarrier.test_wait.parity.shared.b64"
#endif
  unsigned done;
  do {
    asm volatile("{\n.reg .pred p;\n" SPDC_MBAR_TEST " p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done)
                 : "r"(bar), "r"(parity)
                 : "memory");
  } while (!done);
#undef SPDC_MBAR_TEST
#endif
}

// A tensor map (CUtensorMap: 128 opaque bytes, 64-byte aligned) that the host encodes with
// cuTensorMapEncodeTiled and passes by value as a `const __grid_constant__` kernel parameter.
struct alignas(64) TmaDescriptor {
  unsigned long long bits[16];
};

// Makes the mbarrier initializations before it visible to the tensor copies (the async proxy).
__device__ __forceinline__ void fenceMbarrierInit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
#endif
}

// Shared memory written through the generic proxy (stores, cp.async) and next read by wgmma or
// overwritten by bulk copies (the async proxy).
__device__ __forceinline__ void fenceProxyAsync() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// One arrival that also expects `bytes` more of the phase's transactions (the tensor copies
// issued next complete them).
__device__ __forceinline__ void mbarArriveExpectTx(unsigned bar, unsigned bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes)
               : "memory");
#endif
}

// L2's evict-last cache policy (data that other blocks read again soon). Make it once per
// thread, outside the copy loops.
__device__ __forceinline__ unsigned long long l2EvictLastPolicy() {
  unsigned long long policy = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;\n" : "=l"(policy));
#endif
  return policy;
}

// The box of `map` at coordinates (c0, c1, c2, c3), innermost first, into shared memory at
// `dst` (laid out and swizzled as the map says); its bytes complete transactions on `bar`.
// Elements outside the tensor arrive as zeros and count all the same. WithPolicy: the copy
// carries the L2 cache policy `policy` (l2EvictFirstPolicy, l2EvictLastPolicy).
template <bool WithPolicy = false>
__device__ __forceinline__ void tmaLoad4d(unsigned dst, const TmaDescriptor &map, int c0, int c1,
                                          int c2, int c3, unsigned bar,
                                          unsigned long long policy = 0) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if constexpr (WithPolicy)
    asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 ".L2::cache_hint [%0], [%1, {%2, %3, %4, %5}], [%6], %7;\n" ::"r"(dst),
                 "l"(reinterpret_cast<unsigned long long>(&map)), "r"(c0), "r"(c1), "r"(c2),
                 "r"(c3), "r"(bar), "l"(policy)
                 : "memory");
  else
    asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3, %4, %5}], [%6];\n" ::"r"(dst),
                 "l"(reinterpret_cast<unsigned long long>(&map)), "r"(c0), "r"(c1), "r"(c2),
                 "r"(c3), "r"(bar)
                 : "memory");
#endif
}

// `bytes` (a multiple of 16) from global `src` into shared memory at `dst` (both 16-byte
// aligned) as one bulk copy; its bytes complete transactions on `bar`. WithPolicy: the copy
// carries the L2 cache policy `policy` (l2EvictFirstPolicy).
template <bool WithPolicy = false>
__device__ __forceinline__ void bulkLoad(unsigned dst, const void *src, unsigned bytes,
                                         unsigned bar, unsigned long long policy = 0) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if constexpr (WithPolicy)
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint"
                 " [%0], [%1], %2, [%3], %4;\n" ::"r"(dst),
                 "l"(src), "r"(bytes), "r"(bar), "l"(policy)
                 : "memory");
  else
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes"
                 " [%0], [%1], %2, [%3];\n" ::"r"(dst),
                 "l"(src), "r"(bytes), "r"(bar)
                 : "memory");
#endif
}

// Brings a tensor map into the cache its copies read it from.
__device__ __forceinline__ void tmaPrefetchDescriptor(const TmaDescriptor &map) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<unsigned long long>(&map))
               : "memory");
#endif
}

// Thread block clusters (sm_90): this block's rank in its cluster and the cluster's size in
// blocks (1 for a launch without clusters).
__device__ __forceinline__ unsigned clusterRank() {
  unsigned r = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
#endif
  return r;
}
__device__ __forceinline__ unsigned clusterBlocks() {
  unsigned n = 1;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mov.u32 %0, %%cluster_nctarank;\n" : "=r"(n));
#endif
  return n;
}
// Every thread of every block of the cluster: shared memory written before it is visible to
// the cluster's blocks after it.
__device__ __forceinline__ void clusterSync() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.arrive.release.aligned;\n"
               "barrier.cluster.wait.acquire.aligned;\n" ::: "memory");
#endif
}
// The address in block `rank`'s shared memory (distributed shared memory) of what `p` points to
// in this block's.
__device__ __forceinline__ unsigned clusterSharedAddr(const void *p, unsigned rank) {
  unsigned remote = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(smemAddr(p)), "r"(rank));
#endif
  return remote;
}
// One float, and four (16-byte aligned), of block `rank`'s shared memory.
__device__ __forceinline__ float loadClusterShared(const float *p, unsigned rank) {
  float v = 0.0f;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("ld.shared::cluster.f32 %0, [%1];\n"
               : "=f"(v)
               : "r"(clusterSharedAddr(p, rank))
               : "memory");
#endif
  return v;
}
__device__ __forceinline__ float4 loadClusterShared4(const float *p, unsigned rank) {
  float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];\n"
               : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
               : "r"(clusterSharedAddr(p, rank))
               : "memory");
#endif
  return v;
}

// Named barrier 1..15 among `threads` threads (a multiple of 32): waits for the barrier's count.
__device__ __forceinline__ void namedBarrierSync(unsigned id, unsigned threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

__device__ __forceinline__ void ldmatrixX4(unsigned (&r)[4], unsigned addr) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
#endif
}
__device__ __forceinline__ void ldmatrixX4Trans(unsigned (&r)[4], unsigned addr) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
#endif
}

// Zeroes N accumulator fragments (the m16n8 layout's four floats each).
template <int N> __device__ __forceinline__ void zeroFragments(float (&d)[N][4]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      d[i][e] = 0.0f;
}

__device__ __forceinline__ float fastExp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Two floats rounded to one register of two T (the A-operand element pair).
template <class T> __device__ __forceinline__ unsigned packHalf2(float lo, float hi) {
  unsigned r;
  if constexpr (IsSame<T, __half>::value) {
    __half2 h = __floats2half2_rn(lo, hi);
    memcpy(&r, &h, 4);
  } else {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    memcpy(&r, &h, 4);
  }
  return r;
}

} // namespace kernels
} // namespace spdc
