//===- attention.cuh - Scaled dot-product attention, forward -------------===//
//
// out = softmax(scale * Q K^T + mask) V per (batch, query head), computed in f32 with an online
// softmax over key tiles (FlashAttention-2 order: the [q_len, kv_len] score matrix is never
// materialized). Plain CUDA C++ with mma.sync tensor-core tiles for f16/bf16 and FMA on f32
// tiles otherwise: sm_80 and sm_90 alike (a wgmma/TMA variant for sm_90a is future work).
//
// Layouts (contiguous, elements):
//   q   [batch, qHeads,  qLen,  HeadDim]      k [batch, kvHeads, kvLen, HeadDim]
//   v   [batch, kvHeads, kvLen, HeadDimV]     out [batch, qHeads, qLen, HeadDimV]
//   mask (optional, nullptr = none): element (b, h, i, j) at
//        b*maskStrideB + h*maskStrideH + i*maskStrideQ + j*maskStrideK (stride 0 = broadcast).
// Semantics (spd.attention):
//   - GQA: query head h reads kv head h / (qHeads / kvHeads); qHeads % kvHeads == 0.
//   - causal: query i sees key j iff j <= i + kvLen - qLen (bottom-right aligned).
//   - mask: TMask bool / unsigned char / signed char = keep-mask (nonzero keeps); any other
//     TMask (float, __half, __nv_bfloat16) is added to the scaled scores. With no mask, pass
//     nullptr (TMask float by convention).
//   - a query row that sees no key (all masked / -inf) gives zeros.
//
// Template parameters:
//   T         element type of q, k, v, out (float, __half, __nv_bfloat16)
//   TMask     mask element type (see above)
//   HeadDim   q/k head dimension, any value 1..256
//   HeadDimV  v/out head dimension, 1..256
//
// Kernels (namespace spdc::kernels):
//   template <class T, class TMask, int HeadDim, int HeadDimV>
//   __global__ void attention_fwd_kernel(const T *q, const T *k, const T *v, const TMask *mask,
//       T *out, int batch, int qHeads, int kvHeads, long long qLen, long long kvLen,
//       float scale, bool causal, long long maskStrideB, long long maskStrideH,
//       long long maskStrideQ, long long maskStrideK);
//     Two paths, chosen at compile time (AttentionConfig<T, HeadDim, HeadDimV>):
//       tensor cores (mma.sync m16n8k16, f32 accumulate; P rounded to T for P V as in
//       FlashAttention-2) when T is __half or __nv_bfloat16 and HeadDim, HeadDimV are multiples
//       of 16 and <= 128: query tiles of kBlockM = 64 rows, key tiles of 64;
//       FMA on f32 tiles otherwise: kBlockM = 16 when HeadDim and HeadDimV <= 128, else 8.
//     Launch: grid (ceil(qLen / kBlockM), batch * qHeads, 1) -- blocks loop over query tiles, so
//     any grid.x >= 1 is correct, the formula is the efficient one -- block (128, 1, 1),
//     dynamic shared memory 0 (static, <= 48 KiB). batch * qHeads <= 65535.
//
//   template <class T, class TMask, int HeadDim, int HeadDimV>
//   __global__ void attention_decode_kernel(same arguments);
//     One block per query row, eight warps splitting the keys: for small qLen (decode, qLen == 1)
//     where the tiled kernel would leave most of its rows idle. Any qLen is correct.
//     Launch: grid (qLen, batch * qHeads, 1), block (256, 1, 1)
//     (AttentionDecodeConfig::kThreads), dynamic shared memory 0.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "spdc/kernels/common.cuh"

namespace spdc {
namespace kernels {

template <int HeadDim, int HeadDimV> struct AttentionFmaConfig {
  static constexpr int kWarps = 4;
  static constexpr int kThreads = kWarps * 32;
  // One key per lane per tile.
  static constexpr int kBlockN = 32;
  // Query rows per warp: each K element read from shared memory serves this many rows; fewer
  // for wide heads to keep the tiles within the 48 KiB of static shared memory.
  static constexpr int kRowsPerWarp = (HeadDim <= 128 && HeadDimV <= 128) ? 4 : 2;
  static constexpr int kBlockM = kWarps * kRowsPerWarp;
  // K rows padded by one float so that lane j reading row j hits distinct banks.
  static constexpr int kKStride = HeadDim + 1;
  static constexpr int kVSlots = (HeadDimV + 31) / 32; // output dims per lane
  static constexpr int kQFloats = kBlockM * HeadDim;
  static constexpr int kKFloats = kBlockN * kKStride;
  static constexpr int kVFloats = kBlockN * HeadDimV;
  static constexpr int kStaticLimit = 48 * 1024;
  // Wide heads: V reuses K's buffer after the scores are computed.
  static constexpr bool kShareKV = (kQFloats + kKFloats + kVFloats) * 4 > kStaticLimit;
  static constexpr int kSmemFloats =
      kQFloats + (kShareKV ? (kKFloats > kVFloats ? kKFloats : kVFloats) : kKFloats + kVFloats);
  static_assert(kSmemFloats * 4 <= kStaticLimit, "attention tiles exceed static shared memory");
  static_assert(HeadDim >= 1 && HeadDim <= 256 && HeadDimV >= 1 && HeadDimV <= 256,
                "head dims 1..256");
};

// Whether key `key` is visible to query `row`, and the masked, scaled score.
template <class TMask>
__device__ __forceinline__ float attentionScore(float dot, float scale, index_t row,
                                                index_t key, index_t qLen, index_t kvLen,
                                                bool causal, const TMask *mask, index_t maskRow) {
  const float ninf = -NumericLimits<float>::infinity();
  if (key >= kvLen || row >= qLen)
    return ninf;
  if (causal && key > row + kvLen - qLen)
    return ninf;
  float s = dot * scale;
  if (mask) {
    TMask mv = mask[maskRow];
    if constexpr (IsKeepMask<TMask>::value) {
      if (!mv)
        return ninf;
    } else {
      s += toFloat(mv);
    }
  }
  return s;
}

// FMA path: any element type and head dim. Processes query tile `tile` of BM rows.
template <class T, class TMask, int HeadDim, int HeadDimV>
__device__ __forceinline__ void
attentionTileFma(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
                 const TMask *__restrict__ mask, T *__restrict__ out, index_t tile, int qHeads,
                 int kvHeads, index_t qLen, index_t kvLen, float scale, bool causal,
                 index_t maskStrideB, index_t maskStrideH, index_t maskStrideQ,
                 index_t maskStrideK) {
  using Cfg = AttentionFmaConfig<HeadDim, HeadDimV>;
  constexpr int D = HeadDim, DV = HeadDimV, RPW = Cfg::kRowsPerWarp, BM = Cfg::kBlockM,
                BN = Cfg::kBlockN, KS = Cfg::kKStride, NT = Cfg::kThreads,
                SLOTS = Cfg::kVSlots;
  __shared__ __align__(16) float smem[Cfg::kSmemFloats];
  float *sQ = smem;
  float *sK = smem + Cfg::kQFloats;
  float *sV = Cfg::kShareKV ? sK : sK + Cfg::kKFloats;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int bh = blockIdx.y, b = bh / qHeads, h = bh % qHeads;
  const int hk = h / (qHeads / kvHeads);
  const index_t m0 = tile * BM;
  const T *qb = q + index_t(bh) * qLen * D;
  const T *kb = k + (index_t(b) * kvHeads + hk) * kvLen * D;
  const T *vb = v + (index_t(b) * kvHeads + hk) * kvLen * DV;
  T *ob = out + index_t(bh) * qLen * DV;
  const index_t maskBase = index_t(b) * maskStrideB + index_t(h) * maskStrideH;

  __syncthreads(); // the previous tile's readers of sQ are done
  for (int idx = tid; idx < BM * D; idx += NT) {
    const index_t row = m0 + idx / D;
    sQ[idx] = row < qLen ? toFloat(qb[row * D + idx % D]) : 0.0f;
  }

  // Keys beyond the last visible one of this block's last row are skipped entirely.
  index_t kvEnd = kvLen;
  if (causal) {
    const index_t lastRow = (m0 + BM < qLen ? m0 + BM : qLen) - 1;
    const index_t lastKey = lastRow + kvLen - qLen;
    kvEnd = lastKey + 1 < kvLen ? lastKey + 1 : kvLen;
  }

  const float ninf = -NumericLimits<float>::infinity();
  float rowMax[RPW], rowSum[RPW], acc[RPW][SLOTS];
#pragma unroll
  for (int i = 0; i < RPW; ++i) {
    rowMax[i] = ninf;
    rowSum[i] = 0.0f;
#pragma unroll
    for (int s = 0; s < SLOTS; ++s)
      acc[i][s] = 0.0f;
  }

  for (index_t n0 = 0; n0 < kvEnd; n0 += BN) {
    __syncthreads(); // the previous tile's readers are done (and sQ is written, first time)
    for (int idx = tid; idx < BN * D; idx += NT) {
      const int j = idx / D, d = idx % D;
      const index_t key = n0 + j;
      sK[j * KS + d] = key < kvLen ? toFloat(kb[key * D + d]) : 0.0f;
    }
    if constexpr (!Cfg::kShareKV) {
      for (int idx = tid; idx < BN * DV; idx += NT) {
        const index_t key = n0 + idx / DV;
        sV[idx] = key < kvLen ? toFloat(vb[key * DV + idx % DV]) : 0.0f;
      }
    }
    __syncthreads();

    // Scores: lane j owns key n0 + j for the warp's RPW rows.
    float s[RPW];
#pragma unroll
    for (int i = 0; i < RPW; ++i)
      s[i] = 0.0f;
    const float *kRow = sK + lane * KS;
    const float *qRows = sQ + warp * RPW * D;
    if constexpr (D % 4 == 0) {
#pragma unroll 4
      for (int d = 0; d < D; d += 4) {
        const float k0 = kRow[d], k1 = kRow[d + 1], k2 = kRow[d + 2], k3 = kRow[d + 3];
#pragma unroll
        for (int i = 0; i < RPW; ++i) {
          const float4 qv = *reinterpret_cast<const float4 *>(qRows + i * D + d);
          s[i] += qv.x * k0 + qv.y * k1 + qv.z * k2 + qv.w * k3;
        }
      }
    } else {
#pragma unroll 4
      for (int d = 0; d < D; ++d) {
        const float kd = kRow[d];
#pragma unroll
        for (int i = 0; i < RPW; ++i)
          s[i] += qRows[i * D + d] * kd;
      }
    }

    // Online softmax per row; p[i] is this lane's probability for its key.
    float p[RPW];
    const index_t key = n0 + lane;
#pragma unroll
    for (int i = 0; i < RPW; ++i) {
      const index_t row = m0 + warp * RPW + i;
      const float sc = attentionScore(s[i], scale, row, key, qLen, kvLen, causal, mask,
                                      maskBase + row * maskStrideQ + key * maskStrideK);
      const float tileMax = warpReduceMax(sc);
      const float newMax = rowMax[i] > tileMax ? rowMax[i] : tileMax;
      // While every score so far is -inf, nothing is accumulated (avoid -inf - -inf).
      p[i] = newMax == ninf ? 0.0f : expf(sc - newMax);
      const float alpha = newMax == ninf ? 1.0f : expf(rowMax[i] - newMax);
      rowSum[i] = rowSum[i] * alpha + warpReduceSum(p[i]);
      rowMax[i] = newMax;
#pragma unroll
      for (int sl = 0; sl < SLOTS; ++sl)
        acc[i][sl] *= alpha;
    }

    if constexpr (Cfg::kShareKV) {
      __syncthreads(); // everyone is done with K
      for (int idx = tid; idx < BN * DV; idx += NT) {
        const index_t kk = n0 + idx / DV;
        sV[idx] = kk < kvLen ? toFloat(vb[kk * DV + idx % DV]) : 0.0f;
      }
      __syncthreads();
    }

    // acc += P V: lane owns output dims lane + 32 * slot.
#pragma unroll 4
    for (int j = 0; j < BN; ++j) {
      float vj[SLOTS];
#pragma unroll
      for (int sl = 0; sl < SLOTS; ++sl) {
        const int dd = lane + 32 * sl;
        vj[sl] = (DV % 32 == 0 || dd < DV) ? sV[j * DV + dd] : 0.0f;
      }
#pragma unroll
      for (int i = 0; i < RPW; ++i) {
        const float pj = __shfl_sync(0xffffffffu, p[i], j);
#pragma unroll
        for (int sl = 0; sl < SLOTS; ++sl)
          acc[i][sl] += pj * vj[sl];
      }
    }
  }

#pragma unroll
  for (int i = 0; i < RPW; ++i) {
    const index_t row = m0 + warp * RPW + i;
    if (row >= qLen)
      continue;
    const float inv = rowSum[i] > 0.0f ? 1.0f / rowSum[i] : 0.0f;
#pragma unroll
    for (int sl = 0; sl < SLOTS; ++sl) {
      const int dd = lane + 32 * sl;
      if (DV % 32 == 0 || dd < DV)
        ob[row * DV + dd] = fromFloat<T>(acc[i][sl] * inv);
    }
  }
}

//===--- tensor-core path: mma.sync m16n8k16, f16 / bf16 inputs, f32 accumulators ---===//

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

template <class T> __device__ __forceinline__ unsigned packPair(float lo, float hi) {
  T two[2] = {convert<T>(lo), convert<T>(hi)};
  unsigned r;
  memcpy(&r, two, 4);
  return r;
}

template <int HeadDim, int HeadDimV> struct AttentionMmaConfig {
  static constexpr int kWarps = 4;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kBlockM = kWarps * 16; // one m16 row block per warp
  static constexpr int kBlockN = 64;          // keys per tile
  // Rows padded by 8 elements (16 bytes): conflict-free fragment loads and ldmatrix rows.
  static constexpr int kKStride = HeadDim + 8;
  static constexpr int kVStride = HeadDimV + 8;
  static constexpr int kSmemElems = kBlockN * (kKStride + kVStride);
};

// Copies rows [n0, n0 + BN) of a [kvLen, D] matrix into smem rows of stride S (zeros past kvLen).
template <class T, int D, int S, int BN, int NT>
__device__ __forceinline__ void loadTile16(T *dst, const T *src, index_t n0, index_t kvLen,
                                           bool aligned) {
  constexpr int V = kVecElems<T>; // 8
  if (aligned) {
    for (int idx = threadIdx.x; idx < BN * D / V; idx += NT) {
      const int j = idx / (D / V), c = (idx % (D / V)) * V;
      uint4 val = make_uint4(0, 0, 0, 0);
      if (n0 + j < kvLen)
        val = *reinterpret_cast<const uint4 *>(src + (n0 + j) * D + c);
      *reinterpret_cast<uint4 *>(dst + j * S + c) = val;
    }
  } else {
    for (int idx = threadIdx.x; idx < BN * D; idx += NT) {
      const int j = idx / D, c = idx % D;
      dst[j * S + c] = n0 + j < kvLen ? src[(n0 + j) * D + c] : convert<T>(0.0f);
    }
  }
}

template <class T, class TMask, int HeadDim, int HeadDimV>
__device__ __forceinline__ void
attentionTileMma(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
                 const TMask *__restrict__ mask, T *__restrict__ out, index_t tile, int qHeads,
                 int kvHeads, index_t qLen, index_t kvLen, float scale, bool causal,
                 index_t maskStrideB, index_t maskStrideH, index_t maskStrideQ,
                 index_t maskStrideK) {
  using Cfg = AttentionMmaConfig<HeadDim, HeadDimV>;
  constexpr int D = HeadDim, DV = HeadDimV, BM = Cfg::kBlockM, BN = Cfg::kBlockN,
                KS = Cfg::kKStride, VS = Cfg::kVStride, NT = Cfg::kThreads;
  constexpr int KSTEPS = D / 16, NB = BN / 8, NBV = DV / 8;
  __shared__ __align__(16) T smem[Cfg::kSmemElems];
  T *sK = smem;
  T *sV = smem + BN * KS;

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int bh = blockIdx.y, b = bh / qHeads, h = bh % qHeads;
  const int hk = h / (qHeads / kvHeads);
  const index_t m0 = tile * BM;
  const T *qb = q + index_t(bh) * qLen * D;
  const T *kb = k + (index_t(b) * kvHeads + hk) * kvLen * D;
  const T *vb = v + (index_t(b) * kvHeads + hk) * kvLen * DV;
  T *ob = out + index_t(bh) * qLen * DV;
  const index_t maskBase = index_t(b) * maskStrideB + index_t(h) * maskStrideH;
  const bool aligned = isAligned(kb, 16) && isAligned(vb, 16);

  // This warp's 16 query rows as A fragments (rows g and g + 8 of the warp's block).
  const index_t row0 = m0 + warp * 16 + g, row1 = row0 + 8;
  unsigned qa[KSTEPS][4];
#pragma unroll
  for (int ks = 0; ks < KSTEPS; ++ks) {
    const int c = ks * 16 + 2 * t;
    auto ld = [&](index_t row, int col) -> unsigned {
      unsigned r = 0;
      if (row < qLen)
        memcpy(&r, qb + row * D + col, 4);
      return r;
    };
    qa[ks][0] = ld(row0, c);
    qa[ks][1] = ld(row1, c);
    qa[ks][2] = ld(row0, c + 8);
    qa[ks][3] = ld(row1, c + 8);
  }

  index_t kvEnd = kvLen;
  if (causal) {
    const index_t lastRow = (m0 + BM < qLen ? m0 + BM : qLen) - 1;
    const index_t lastKey = lastRow + kvLen - qLen;
    kvEnd = lastKey + 1 < kvLen ? lastKey + 1 : kvLen;
  }

  const float ninf = -NumericLimits<float>::infinity();
  float rowMax[2] = {ninf, ninf}, rowSum[2] = {0.0f, 0.0f};
  float o[NBV][4];
#pragma unroll
  for (int nb = 0; nb < NBV; ++nb)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      o[nb][e] = 0.0f;

  for (index_t n0 = 0; n0 < kvEnd; n0 += BN) {
    __syncthreads(); // readers of the previous tile are done
    loadTile16<T, D, KS, BN, NT>(sK, kb, n0, kvLen, aligned);
    loadTile16<T, DV, VS, BN, NT>(sV, vb, n0, kvLen, aligned);
    __syncthreads();

    // S = Q K^T for this warp's 16 rows and the tile's BN keys.
    float sc[NB][4];
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
      for (int e = 0; e < 4; ++e)
        sc[nb][e] = 0.0f;
      const T *kr = sK + (nb * 8 + g) * KS + 2 * t;
#pragma unroll
      for (int ks = 0; ks < KSTEPS; ++ks) {
        unsigned b0, b1;
        memcpy(&b0, kr + ks * 16, 4);
        memcpy(&b1, kr + ks * 16 + 8, 4);
        mma16816<T>(sc[nb], qa[ks], b0, b1);
      }
    }

    // Online softmax on rows g (r = 0: elements 0, 1) and g + 8 (r = 1: elements 2, 3).
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const index_t row = r ? row1 : row0;
      float tmax = ninf;
#pragma unroll
      for (int nb = 0; nb < NB; ++nb)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const index_t key = n0 + nb * 8 + 2 * t + e;
          float &x = sc[nb][2 * r + e];
          x = attentionScore(x, scale, row, key, qLen, kvLen, causal, mask,
                             maskBase + row * maskStrideQ + key * maskStrideK);
          tmax = x > tmax ? x : tmax;
        }
      tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
      tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 2));
      const float newMax = rowMax[r] > tmax ? rowMax[r] : tmax;
      const float alpha = newMax == ninf ? 1.0f : expf(rowMax[r] - newMax);
      float psum = 0.0f;
#pragma unroll
      for (int nb = 0; nb < NB; ++nb)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float &x = sc[nb][2 * r + e];
          x = newMax == ninf ? 0.0f : expf(x - newMax);
          psum += x;
        }
      rowSum[r] = rowSum[r] * alpha + psum; // this thread's columns; summed over t at the end
      rowMax[r] = newMax;
#pragma unroll
      for (int nb = 0; nb < NBV; ++nb) {
        o[nb][2 * r] *= alpha;
        o[nb][2 * r + 1] *= alpha;
      }
    }

    // O += P V: P's accumulator layout is the A operand's layout, two key blocks per k-step.
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      unsigned pa[4];
      pa[0] = packPair<T>(sc[2 * kk][0], sc[2 * kk][1]);
      pa[1] = packPair<T>(sc[2 * kk][2], sc[2 * kk][3]);
      pa[2] = packPair<T>(sc[2 * kk + 1][0], sc[2 * kk + 1][1]);
      pa[3] = packPair<T>(sc[2 * kk + 1][2], sc[2 * kk + 1][3]);
      const T *vrow = sV + (kk * 16 + (lane & 15)) * VS;
#pragma unroll
      for (int nb = 0; nb < NBV; ++nb) {
        unsigned b0, b1;
        ldmatrixX2Trans(b0, b1, vrow + nb * 8);
        mma16816<T>(o[nb], pa, b0, b1);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = rowSum[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const index_t row = r ? row1 : row0;
    if (row >= qLen)
      continue;
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
#pragma unroll
    for (int nb = 0; nb < NBV; ++nb) {
      const unsigned pr = packPair<T>(o[nb][2 * r] * inv, o[nb][2 * r + 1] * inv);
      memcpy(ob + row * DV + nb * 8 + 2 * t, &pr, 4);
    }
  }
}

// mma.sync needs sm_80; the host side of an nvcc build assumes it (the project targets sm_80+).
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define SPDC_KERNELS_HAS_MMA 1
#else
#define SPDC_KERNELS_HAS_MMA 0
#endif

// Which path and tile size attention_fwd_kernel uses for these parameters.
template <class T, int HeadDim, int HeadDimV> struct AttentionConfig {
  static constexpr bool kUseMma = SPDC_KERNELS_HAS_MMA && IsHalfLike<T>::value &&
                                  HeadDim % 16 == 0 &&
                                  HeadDimV % 16 == 0 && HeadDim <= 128 && HeadDimV <= 128;
  static constexpr int kBlockM = kUseMma ? AttentionMmaConfig<HeadDim, HeadDimV>::kBlockM
                                         : AttentionFmaConfig<HeadDim, HeadDimV>::kBlockM;
  static constexpr int kThreads = 128;
};

template <class T, class TMask, int HeadDim, int HeadDimV>
__global__ void __launch_bounds__(128)
    attention_fwd_kernel(const T *__restrict__ q, const T *__restrict__ k,
                         const T *__restrict__ v, const TMask *__restrict__ mask,
                         T *__restrict__ out, int batch, int qHeads, int kvHeads,
                         long long qLen, long long kvLen, float scale, bool causal,
                         long long maskStrideB, long long maskStrideH, long long maskStrideQ,
                         long long maskStrideK) {
  using Cfg = AttentionConfig<T, HeadDim, HeadDimV>;
  const index_t tiles = (qLen + Cfg::kBlockM - 1) / Cfg::kBlockM;
  for (index_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    if constexpr (Cfg::kUseMma)
      attentionTileMma<T, TMask, HeadDim, HeadDimV>(q, k, v, mask, out, tile, qHeads, kvHeads,
                                                    qLen, kvLen, scale, causal, maskStrideB,
                                                    maskStrideH, maskStrideQ, maskStrideK);
    else
      attentionTileFma<T, TMask, HeadDim, HeadDimV>(q, k, v, mask, out, tile, qHeads, kvHeads,
                                                    qLen, kvLen, scale, causal, maskStrideB,
                                                    maskStrideH, maskStrideQ, maskStrideK);
  }
}

// Decode: one block per query row; warp w takes key chunks w, w + kWarps, ... of 32 keys, one
// key per lane for the scores (each lane reads its key's row with 16-byte loads), then the
// whole warp accumulates P V with lanes over output dims. Warps merge their (max, sum, acc) at
// the end.
struct AttentionDecodeConfig {
  static constexpr int kWarps = 8;
  static constexpr int kThreads = kWarps * 32;
};

template <class T, class TMask, int HeadDim, int HeadDimV>
__global__ void __launch_bounds__(256)
    attention_decode_kernel(const T *__restrict__ q, const T *__restrict__ k,
                            const T *__restrict__ v, const TMask *__restrict__ mask,
                            T *__restrict__ out, int batch, int qHeads, int kvHeads,
                            long long qLen, long long kvLen, float scale, bool causal,
                            long long maskStrideB, long long maskStrideH,
                            long long maskStrideQ, long long maskStrideK) {
  constexpr int D = HeadDim, DV = HeadDimV, WARPS = AttentionDecodeConfig::kWarps;
  constexpr int VSLOTS = (DV + 31) / 32;
  constexpr int KV = kVecElems<T>;
  // Whole rows in 16-byte pieces when every row starts 16-byte aligned.
  constexpr bool kVecRows = KV > 1 && D % KV == 0;
  __shared__ __align__(16) float sQ[D];
  __shared__ float sMax[WARPS], sSum[WARPS];
  __shared__ float sAcc[WARPS][VSLOTS * 32];

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const index_t row = blockIdx.x;
  const int bh = blockIdx.y, b = bh / qHeads, h = bh % qHeads;
  const int hk = h / (qHeads / kvHeads);
  const T *qr = q + (index_t(bh) * qLen + row) * D;
  const T *kb = k + (index_t(b) * kvHeads + hk) * kvLen * D;
  const T *vb = v + (index_t(b) * kvHeads + hk) * kvLen * DV;
  const index_t maskBase = index_t(b) * maskStrideB + index_t(h) * maskStrideH +
                           row * maskStrideQ;
  for (int d = threadIdx.x; d < D; d += AttentionDecodeConfig::kThreads)
    sQ[d] = toFloat(qr[d]);
  index_t kvEnd = kvLen;
  if (causal) {
    const index_t lastKey = row + kvLen - qLen;
    kvEnd = lastKey + 1 < kvLen ? lastKey + 1 : kvLen;
  }
  const bool vecRows = kVecRows && isAligned(kb, 16);
  __syncthreads();

  const float ninf = -NumericLimits<float>::infinity();
  float rowMax = ninf, rowSum = 0.0f, acc[VSLOTS];
#pragma unroll
  for (int sl = 0; sl < VSLOTS; ++sl)
    acc[sl] = 0.0f;

  for (index_t c0 = index_t(warp) * 32; c0 < kvEnd; c0 += WARPS * 32) {
    const index_t key = c0 + lane;
    float dot = 0.0f;
    if (key < kvEnd) {
      const T *kr = kb + key * D;
      if (vecRows) {
#pragma unroll 4
        for (int d = 0; d < D; d += KV) {
          Pack<T, KV> p = load16(kr + d);
#pragma unroll
          for (int e = 0; e < KV; ++e)
            dot += sQ[d + e] * toFloat(p.v[e]);
        }
      } else {
#pragma unroll 4
        for (int d = 0; d < D; ++d)
          dot += sQ[d] * toFloat(kr[d]);
      }
    }
    const float sc = attentionScore(dot, scale, row, key, qLen, kvLen, causal, mask,
                                    maskBase + key * maskStrideK);
    const float tileMax = warpReduceMax(sc);
    const float newMax = rowMax > tileMax ? rowMax : tileMax;
    const float p = newMax == ninf ? 0.0f : expf(sc - newMax);
    const float alpha = newMax == ninf ? 1.0f : expf(rowMax - newMax);
    rowSum = rowSum * alpha + warpReduceSum(p);
    rowMax = newMax;
#pragma unroll
    for (int sl = 0; sl < VSLOTS; ++sl)
      acc[sl] *= alpha;
    const int nKeys = kvEnd - c0 < 32 ? int(kvEnd - c0) : 32;
    for (int j = 0; j < nKeys; ++j) {
      const float pj = __shfl_sync(0xffffffffu, p, j);
      const T *vr = vb + (c0 + j) * DV;
#pragma unroll
      for (int sl = 0; sl < VSLOTS; ++sl) {
        const int dd = lane + 32 * sl;
        if (DV % 32 == 0 || dd < DV)
          acc[sl] += pj * toFloat(vr[dd]);
      }
    }
  }

  if (lane == 0) {
    sMax[warp] = rowMax;
    sSum[warp] = rowSum;
  }
#pragma unroll
  for (int sl = 0; sl < VSLOTS; ++sl)
    sAcc[warp][lane + 32 * sl] = acc[sl];
  __syncthreads();
  float m = sMax[0];
#pragma unroll
  for (int w = 1; w < WARPS; ++w)
    m = m > sMax[w] ? m : sMax[w];
  float total = 0.0f, factor[WARPS];
#pragma unroll
  for (int w = 0; w < WARPS; ++w) {
    factor[w] = sMax[w] == ninf ? 0.0f : expf(sMax[w] - m);
    total += sSum[w] * factor[w];
  }
  const float inv = total > 0.0f ? 1.0f / total : 0.0f;
  T *orow = out + (index_t(bh) * qLen + row) * DV;
  for (int dd = threadIdx.x; dd < DV; dd += AttentionDecodeConfig::kThreads) {
    float o = 0.0f;
#pragma unroll
    for (int w = 0; w < WARPS; ++w)
      o += sAcc[w][dd] * factor[w];
    orow[dd] = fromFloat<T>(o * inv);
  }
}

} // namespace kernels
} // namespace spdc
