//===- attention.cuh - Scaled dot-product attention, forward -------------===//
//
// out = softmax(scale * Q K^T + mask) V per (batch, query head), computed in f32 with an online
// softmax over key tiles (FlashAttention-2 order: the [q_len, kv_len] score matrix is never
// materialized). Plain CUDA C++: tensor cores for f16/bf16 (warpgroup MMA on sm_90a, mma.sync
// on sm_80 and sm_90) and FMA on f32 tiles otherwise.
//
// Layouts (elements):
//   q   [batch, qHeads,  qLen,  HeadDim]      k [batch, kvHeads, kvLen, HeadDim]
//   v   [batch, kvHeads, kvLen, HeadDimV]     out [batch, qHeads, qLen, HeadDimV]
//   attention_decode_kernel takes them contiguous. attention_fwd_kernel takes each with its own
//   strides over (batch, head, row) and a contiguous head dim, so that Q, K and V can be read
//   in place from a fused QKV projection ([batch, len, 3, heads, dim]) and the output written
//   straight into [batch, len, heads, dim]; 16-byte copies need 16-byte aligned rows (base and
//   row stride), other layouts take element loads.
//   mask (optional, nullptr = none): element (b, h, i, j) at
//        b*maskStrideB + h*maskStrideH + i*maskStrideQ + j*maskStrideK (stride 0 = broadcast).
// Semantics (spd.attention):
//   - GQA: query head h reads kv head h / (qHeads / kvHeads); qHeads % kvHeads == 0.
//   - causal: query i sees key j iff j <= i + kvLen - qLen (bottom-right aligned).
//   - mask: TMask bool / unsigned char / signed char = keep-mask (nonzero keeps); any other
//     TMask (float, __half, __nv_bfloat16) is added to the scaled scores. With no mask, pass
//     nullptr (TMask float by convention; the warp-specialized kernel also takes NoMask, which
//     compiles no mask loads).
//   - softcap (Mod = SoftCap): cap * tanh(scale * q.k / cap), before the mask.
//   - a query row that sees no key (all masked / -inf) gives zeros.
//
// Template parameters:
//   T         element type of q, k, v, out (float, __half, __nv_bfloat16)
//   TMask     mask element type (see above)
//   HeadDim   q/k head dimension, any value 1..256
//   HeadDimV  v/out head dimension, 1..256
//   Mod       last, default NoScoreMod: what is done to the scaled scores before the mask;
//             SoftCap<bits of the cap> is Gemma 2's cap * tanh(s / cap) (spd.attention's
//             softcap). Every kernel below takes it.
//
// Kernels (namespace spdc::kernels):
//   template <class T, class TMask, int HeadDim, int HeadDimV>
//   __global__ void attention_fwd_kernel(const T *q, const T *k, const T *v, const TMask *mask,
//       T *out, int batch, int qHeads, int kvHeads, long long qLen, long long kvLen,
//       float scale, bool causal, long long maskStrideB, long long maskStrideH,
//       long long maskStrideQ, long long maskStrideK, long long qStrideB, long long qStrideH,
//       long long qStrideS, long long kStrideB, long long kStrideH, long long kStrideS,
//       long long vStrideB, long long vStrideH, long long vStrideS, long long oStrideB,
//       long long oStrideH, long long oStrideS);
//     Three paths, chosen at compile time (AttentionConfig<T, HeadDim, HeadDimV>); tensor-core
//     paths accumulate in f32 and round P to T for P V as FlashAttention does:
//       128-row (T __half / __nv_bfloat16, HeadDim and HeadDimV 64 or 128): query tiles of
//       kBlockM = 128 rows; a producer warpgroup streams Q and K/V tiles by cp.async through
//       mbarrier-guarded stages of swizzled dynamic shared memory to two consumer warpgroups
//       (AttentionFwdConfig); wgmma on sm_90a, mma.sync with ldmatrix elsewhere. Block
//       (384, 1, 1), dynamic shared memory AttentionConfig::kSmemBytes (<= 99 KiB: the
//       launcher raises the 48 KiB default).
//       64-row (T half-like, other multiples of 16 <= 128): mma.sync m16n8k16, key tiles of
//       64; block (128, 1, 1), dynamic shared memory 0 (static, <= 48 KiB).
//       FMA on f32 tiles otherwise: kBlockM = 16 when HeadDim and HeadDimV <= 128, else 8;
//       block (128, 1, 1), dynamic shared memory 0.
//     Launch: grid (ceil(qLen / kBlockM), batch * qHeads, 1) -- blocks loop over query tiles, so
//     any grid.x >= 1 is correct, the formula is the efficient one -- block
//     (AttentionConfig::kThreads, 1, 1), dynamic shared memory AttentionConfig::kSmemBytes.
//     batch * qHeads <= 65535. lib/Codegen/CUDA/Codegen.cpp (emitAttention) mirrors these.
//
//   template <class T, class TMask, int HeadDim, int HeadDimV, int BlockN>
//   __global__ void attention_fwd_ws_kernel(the same arguments);
//   __global__ void attention_fwd_ws_tma_kernel(the same arguments, TmaDescriptor qMap,
//       TmaDescriptor kMap, TmaDescriptor vMap);
//     The warp-specialized 128-row path (AttentionWsConfig: f16/bf16, head dims 64 and 128, key
//     tiles of BlockN), persistent over a work queue: any grid is correct, one block per SM is
//     the efficient one. The _tma kernel (sm_90a) moves the tiles with tensor copies from one
//     producer thread, through 4-d tensor maps over q, k and v (head dim, rows, heads, batch;
//     boxes of 64 x 128; 128-byte swizzle) that the host encodes. Launches: at their
//     definitions below.
//
//   template <class T, class TMask, int HeadDim, int HeadDimV>
//   __global__ void attention_decode_kernel(the same arguments up to maskStrideK);
//     One block per query row, eight warps splitting the keys: for small qLen (decode, qLen == 1)
//     where the tiled kernel would leave most of its rows idle. Any qLen is correct.
//     Launch: grid (qLen, batch * qHeads, 1), block (256, 1, 1)
//     (AttentionDecodeConfig::kThreads), dynamic shared memory 0.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "spdc/kernels/common.cuh"
#include "spdc/kernels/mma.cuh"

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
template <class Mod = NoScoreMod, class TMask>
__device__ __forceinline__ float attentionScore(float dot, float scale, index_t row,
                                                index_t key, index_t qLen, index_t kvLen,
                                                bool causal, const TMask *mask, index_t maskRow) {
  const float ninf = -NumericLimits<float>::infinity();
  if (key >= kvLen || row >= qLen)
    return ninf;
  if (causal && key > row + kvLen - qLen)
    return ninf;
  float s = Mod::apply(dot * scale, 1.0f);
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

// Element strides of q, k, v and out over (batch, head, row); the head dim is contiguous.
struct AttentionStrides {
  index_t qB, qH, qS, kB, kH, kS, vB, vH, vS, oB, oH, oS;
};

// The slices of one (batch, query head) a tile function works on: bh = b * qHeads + h (the
// grid's y by default), and query head h reads kv head h / (qHeads / kvHeads). Rows of each slice lie *Row elements
// apart (a row stride is heads times a head dim or so: 32 bits hold it, and keep registers).
template <class T> struct AttentionSlices {
  const T *q, *k, *v;
  T *out;
  int qRow, kRow, vRow, oRow;
  index_t maskBase; // mask offset of (b, h)
};
template <class T>
__device__ __forceinline__ AttentionSlices<T>
attentionSlices(const T *q, const T *k, const T *v, T *out, int qHeads, int kvHeads,
                const AttentionStrides &st, index_t maskStrideB, index_t maskStrideH,
                int bh = int(blockIdx.y)) {
  const int b = bh / qHeads, h = bh % qHeads;
  const int hk = h / (qHeads / kvHeads);
  return {q + b * st.qB + h * st.qH,
          k + b * st.kB + hk * st.kH,
          v + b * st.vB + hk * st.vH,
          out + b * st.oB + h * st.oH,
          int(st.qS),
          int(st.kS),
          int(st.vS),
          int(st.oS),
          index_t(b) * maskStrideB + index_t(h) * maskStrideH};
}

// Whether a slice's rows can be copied in 16-byte pieces.
template <class T> __device__ __forceinline__ bool rowsAligned16(const T *base, int rowStride) {
  return isAligned(base, 16) && (rowStride * int(sizeof(T))) % 16 == 0;
}

// One past the last key that query rows [m0, m0 + rows) may see (causal: bottom-right aligned).
__device__ __forceinline__ index_t attentionKeyEnd(index_t m0, index_t rows, index_t qLen,
                                                   index_t kvLen, bool causal) {
  if (!causal)
    return kvLen;
  const index_t lastRow = (m0 + rows < qLen ? m0 + rows : qLen) - 1;
  const index_t lastKey = lastRow + kvLen - qLen;
  return lastKey + 1 < kvLen ? lastKey + 1 : kvLen;
}

// FMA path: any element type and head dim. Processes query tile `tile` of BM rows.
template <class T, class TMask, int HeadDim, int HeadDimV, class Mod>
__device__ __forceinline__ void
attentionTileFma(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
                 const TMask *__restrict__ mask, T *__restrict__ out, index_t tile, int qHeads,
                 int kvHeads, index_t qLen, index_t kvLen, float scale, bool causal,
                 index_t maskStrideB, index_t maskStrideH, index_t maskStrideQ,
                 index_t maskStrideK, const AttentionStrides &st) {
  using Cfg = AttentionFmaConfig<HeadDim, HeadDimV>;
  constexpr int D = HeadDim, DV = HeadDimV, RPW = Cfg::kRowsPerWarp, BM = Cfg::kBlockM,
                BN = Cfg::kBlockN, KS = Cfg::kKStride, NT = Cfg::kThreads,
                SLOTS = Cfg::kVSlots;
  __shared__ __align__(16) float smem[Cfg::kSmemFloats];
  float *sQ = smem;
  float *sK = smem + Cfg::kQFloats;
  float *sV = Cfg::kShareKV ? sK : sK + Cfg::kKFloats;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const index_t m0 = tile * BM;
  const AttentionSlices<T> head =
      attentionSlices(q, k, v, out, qHeads, kvHeads, st, maskStrideB, maskStrideH);
  const T *qb = head.q, *kb = head.k, *vb = head.v;
  T *ob = head.out;
  const index_t maskBase = head.maskBase;

  __syncthreads(); // the previous tile's readers of sQ are done
  for (int idx = tid; idx < BM * D; idx += NT) {
    const index_t row = m0 + idx / D;
    sQ[idx] = row < qLen ? toFloat(qb[row * head.qRow + idx % D]) : 0.0f;
  }

  // Keys beyond the last visible one of this block's last row are skipped entirely.
  const index_t kvEnd = attentionKeyEnd(m0, BM, qLen, kvLen, causal);

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
      sK[j * KS + d] = key < kvLen ? toFloat(kb[key * head.kRow + d]) : 0.0f;
    }
    if constexpr (!Cfg::kShareKV) {
      for (int idx = tid; idx < BN * DV; idx += NT) {
        const index_t key = n0 + idx / DV;
        sV[idx] = key < kvLen ? toFloat(vb[key * head.vRow + idx % DV]) : 0.0f;
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
      const float sc = attentionScore<Mod>(s[i], scale, row, key, qLen, kvLen, causal, mask,
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
        sV[idx] = kk < kvLen ? toFloat(vb[kk * head.vRow + idx % DV]) : 0.0f;
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
        ob[row * head.oRow + dd] = fromFloat<T>(acc[i][sl] * inv);
    }
  }
}

//===--- tensor-core path: mma.sync m16n8k16, f16 / bf16 inputs, f32 accumulators ---===//

template <class T> __device__ __forceinline__ unsigned packPair(float lo, float hi) {
  T two[2] = {convert<T>(lo), convert<T>(hi)};
  unsigned r;
  memcpy(&r, two, 4);
  return r;
}

// 1 / a row's sum over the 4 lanes that hold its columns (every lane calls it), or 0 for a row
// that saw no key (its output is zeros).
__device__ __forceinline__ float rowScale(float sum) {
  sum += __shfl_xor_sync(0xffffffffu, sum, 1);
  sum += __shfl_xor_sync(0xffffffffu, sum, 2);
  return sum > 0.0f ? 1.0f / sum : 0.0f;
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

// Copies rows [n0, n0 + BN) of a [kvLen, D] matrix whose rows lie `rowStride` elements apart
// into smem rows of stride S (zeros past kvLen).
template <class T, int D, int S, int BN, int NT>
__device__ __forceinline__ void loadTile16(T *dst, const T *src, int rowStride, index_t n0,
                                           index_t kvLen, bool aligned) {
  constexpr int V = kVecElems<T>; // 8
  if (aligned) {
    for (int idx = threadIdx.x; idx < BN * D / V; idx += NT) {
      const int j = idx / (D / V), c = (idx % (D / V)) * V;
      uint4 val = make_uint4(0, 0, 0, 0);
      if (n0 + j < kvLen)
        val = *reinterpret_cast<const uint4 *>(src + (n0 + j) * rowStride + c);
      *reinterpret_cast<uint4 *>(dst + j * S + c) = val;
    }
  } else {
    for (int idx = threadIdx.x; idx < BN * D; idx += NT) {
      const int j = idx / D, c = idx % D;
      dst[j * S + c] = n0 + j < kvLen ? src[(n0 + j) * rowStride + c] : convert<T>(0.0f);
    }
  }
}

template <class T, class TMask, int HeadDim, int HeadDimV, class Mod>
__device__ __forceinline__ void
attentionTileMma(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
                 const TMask *__restrict__ mask, T *__restrict__ out, index_t tile, int qHeads,
                 int kvHeads, index_t qLen, index_t kvLen, float scale, bool causal,
                 index_t maskStrideB, index_t maskStrideH, index_t maskStrideQ,
                 index_t maskStrideK, const AttentionStrides &st) {
  using Cfg = AttentionMmaConfig<HeadDim, HeadDimV>;
  constexpr int D = HeadDim, DV = HeadDimV, BM = Cfg::kBlockM, BN = Cfg::kBlockN,
                KS = Cfg::kKStride, VS = Cfg::kVStride, NT = Cfg::kThreads;
  constexpr int KSTEPS = D / 16, NB = BN / 8, NBV = DV / 8;
  __shared__ __align__(16) T smem[Cfg::kSmemElems];
  T *sK = smem;
  T *sV = smem + BN * KS;

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const index_t m0 = tile * BM;
  const AttentionSlices<T> head =
      attentionSlices(q, k, v, out, qHeads, kvHeads, st, maskStrideB, maskStrideH);
  const T *qb = head.q, *kb = head.k, *vb = head.v;
  T *ob = head.out;
  const index_t maskBase = head.maskBase;
  const bool aligned = rowsAligned16(kb, head.kRow) && rowsAligned16(vb, head.vRow);

  // This warp's 16 query rows as A fragments (rows g and g + 8 of the warp's block).
  const index_t row0 = m0 + warp * 16 + g, row1 = row0 + 8;
  unsigned qa[KSTEPS][4];
#pragma unroll
  for (int ks = 0; ks < KSTEPS; ++ks) {
    const int c = ks * 16 + 2 * t;
    auto ld = [&](index_t row, int col) -> unsigned {
      unsigned r = 0;
      if (row < qLen)
        memcpy(&r, qb + row * head.qRow + col, 4);
      return r;
    };
    qa[ks][0] = ld(row0, c);
    qa[ks][1] = ld(row1, c);
    qa[ks][2] = ld(row0, c + 8);
    qa[ks][3] = ld(row1, c + 8);
  }

  const index_t kvEnd = attentionKeyEnd(m0, BM, qLen, kvLen, causal);

  const float ninf = -NumericLimits<float>::infinity();
  float rowMax[2] = {ninf, ninf}, rowSum[2] = {0.0f, 0.0f};
  float o[NBV][4];
  zeroFragments(o);

  for (index_t n0 = 0; n0 < kvEnd; n0 += BN) {
    __syncthreads(); // readers of the previous tile are done
    loadTile16<T, D, KS, BN, NT>(sK, kb, head.kRow, n0, kvLen, aligned);
    loadTile16<T, DV, VS, BN, NT>(sV, vb, head.vRow, n0, kvLen, aligned);
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
          x = attentionScore<Mod>(x, scale, row, key, qLen, kvLen, causal, mask,
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
    const float inv = rowScale(rowSum[r]);
    const index_t row = r ? row1 : row0;
    if (row >= qLen)
      continue;
#pragma unroll
    for (int nb = 0; nb < NBV; ++nb) {
      const unsigned pr = packPair<T>(o[nb][2 * r] * inv, o[nb][2 * r + 1] * inv);
      memcpy(ob + row * head.oRow + nb * 8 + 2 * t, &pr, 4);
    }
  }
}

//===--- 128-row tensor-core path: cp.async K/V pipeline, swizzled dynamic shared memory ---===//
//
// For f16/bf16 with head dims 64 or 128. A block of 8 warps owns 128 query rows (16 per warp),
// kept in registers as MMA A fragments (staged once through shared memory). K and V tiles of
// kBlockN keys stream through kStages shared-memory buffers with cp.async: tile j + 1 loads
// while tile j is computed, and the stage of tile j - 1 is still read (see below), hence three
// stages and one barrier per tile. Scores and probabilities stay in registers in the m16n8
// accumulator layout, softmax runs in the log2 domain (scale * log2(e) folded into one
// multiply, ex2.approx), and causal blocks stop at their last visible key. Two compute variants
// share everything else:
//   sm_90a (__CUDA_ARCH_FEAT_SM90_ALL): each warpgroup (4 warps, 64 rows) issues wgmma with A
//     from registers: S_j = Q K_j^T, then O += P_{j-1} V_{j-1}, and computes the softmax of
//     S_j while the tensor cores still work on P_{j-1} V_{j-1}.
//   otherwise (sm_80, sm_90): mma.sync m16n8k16 per warp, fragments through ldmatrix.
//
// Shared-memory tiles use one layout, which both ldmatrix and wgmma's 128-byte swizzle mode read:
// a tile of R rows and C columns is C / 64 panels of R rows x 128 bytes; the 16-byte chunk c of
// row r lives at chunk c ^ (r % 8) of that row, so 8 rows at one logical chunk hit 8 different
// bank groups. The hardware swizzles on address bits, hence tiles start 1024-byte aligned.

template <int HeadDim, int HeadDimV> struct AttentionFwdConfig {
  static constexpr int kWarps = 8;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kBlockM = kWarps * 16; // 128: two warpgroups of 64 rows
  // Keys per tile: 128 when both head dims are 64, else 64 (registers and shared memory).
  static constexpr int kBlockN = (HeadDim <= 64 && HeadDimV <= 64) ? 128 : 64;
  static constexpr int kStages = 3;
  static constexpr int kKBytes = kBlockN * HeadDim * 2;
  static constexpr int kVBytes = kBlockN * HeadDimV * 2;
  static constexpr int kStageBytes = kKBytes + kVBytes;
  // Q is staged through stages 1 and 2 before their first K/V tiles arrive.
  static constexpr int kQBytes = kBlockM * HeadDim * 2;
  static constexpr int kQStage = 1;
  // Slack to round the dynamic shared memory base up to 1024 bytes.
  static constexpr int kAlignSlack = 1024;
  // <= 99 KiB in every configuration, so the same launch fits every sm_80+ GPU (sm_86/sm_89
  // allow 99 KiB of dynamic shared memory per block). Mirrored in Codegen.cpp emitAttention.
  static constexpr int kSmemBytes = kStages * kStageBytes + kAlignSlack;
  static_assert(HeadDim % 64 == 0 && HeadDimV % 64 == 0 && HeadDim <= 128 && HeadDimV <= 128,
                "the 128-row path takes head dims 64 and 128");
  static_assert(kQBytes <= (kStages - kQStage) * kStageBytes, "Q fits its staging stages");
  static_assert(kSmemBytes <= 99 * 1024, "attention tiles exceed 99 KiB of shared memory");
};

// Byte offset of 16-byte chunk `chunk` of row `row` in a swizzled tile of Rows rows.
template <int Rows> __device__ __forceinline__ unsigned swizzledOffset(int row, int chunk) {
  return unsigned((chunk >> 3) * (Rows * 128) + row * 128 + (((chunk & 7) ^ (row & 7)) << 4));
}

// Rows [row0, row0 + Rows) of a [nRows, Cols] matrix whose rows lie `rowStride` elements apart
// into a swizzled tile by NT threads (this
// one is `tid`); rows past nRows are zeros. `vec`: src is 16-byte aligned (cp.async); otherwise
// plain element loads and stores. Each thread keeps one 16-byte column chunk and steps down the
// rows by a multiple of 8, so its swizzle is fixed and its addresses advance by constants.
template <class T, int Rows, int Cols, int NT>
__device__ __forceinline__ void loadTileSwizzled(unsigned char *dst, const T *src,
                                                 int rowStride, index_t row0, index_t nRows,
                                                 bool vec, int tid) {
  constexpr int kChunks = Cols / 8; // 16-byte chunks per row
  constexpr int kRowStep = NT / kChunks;
  static_assert(NT % kChunks == 0 && kRowStep % 8 == 0 && Rows % kRowStep == 0,
                "threads step down the rows by a multiple of 8");
  const int ch = tid % kChunks, r0 = tid / kChunks;
  const index_t left = nRows - row0 - r0; // rows from this thread's first one to the end
  const int rowsLeft = left < 0 ? 0 : (left > Rows ? Rows : int(left));
  const T *p = src + (row0 + r0) * rowStride + ch * 8;
  const index_t step = index_t(kRowStep) * rowStride;
  const unsigned to = smemAddr(dst) + swizzledOffset<Rows>(r0, ch);
#pragma unroll
  for (int it = 0; it < Rows / kRowStep; ++it, p += step) {
    const bool in = it * kRowStep < rowsLeft;
    const unsigned at = to + it * kRowStep * 128;
    if (vec) {
      cpAsync16(at, in ? p : src, in ? 16u : 0u);
    } else {
      // One element at a time: the rare unaligned case, kept light on registers.
      T *d = reinterpret_cast<T *>(dst + (at - smemAddr(dst)));
#pragma unroll 1
      for (int e = 0; e < 8; ++e)
        d[e] = in ? p[e] : convert<T>(0.0f);
    }
  }
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SPDC_ATTENTION_WGMMA 1
#else
#define SPDC_ATTENTION_WGMMA 0
#endif

#if SPDC_ATTENTION_WGMMA
// Shared-memory matrix descriptor, 128-byte swizzle: start address, leading and stride byte
// offsets (K-major: stride = between 8-row groups; MN-major: leading = between 64-element
// panels, stride = between 8-row groups of K). Kept as its two 32-bit words: the high word
// (stride and swizzle) is a constant at every call site, and moving the descriptor only adds to
// the low word's start address field, so no 64-bit add (and its carry) is emitted per wgmma.
struct WgmmaDesc {
  unsigned lo, hi;
};
__device__ __forceinline__ WgmmaDesc wgmmaDesc(unsigned addr, unsigned leading, unsigned stride) {
  return {((addr & 0x3FFFF) >> 4) | ((leading >> 4) << 16), (stride >> 4) | (1u << 30)};
}

// `desc` moved `bytes` (a multiple of 16) further, as the 64-bit operand wgmma takes: the start
// address field holds address / 16 in its low 14 bits, and a shared memory address stays below
// 2^18, so the add carries no further. Unrolled loops add constants to one descriptor instead of
// building each anew.
__device__ __forceinline__ unsigned long long wgmmaDescAdd(WgmmaDesc desc, unsigned bytes) {
  return (static_cast<unsigned long long>(desc.hi) << 32) | (desc.lo + (bytes >> 4));
}

// Per-thread register budget of the executing warpgroup (every warp of it runs this).
template <int N> __device__ __forceinline__ void setMaxRegsDec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N> __device__ __forceinline__ void setMaxRegsInc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}

__device__ __forceinline__ void wgmmaFence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
// Waits until at most N of the warpgroup's committed wgmma groups are still in flight.
template <int N> __device__ __forceinline__ void wgmmaWait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// The accumulators are written by the tensor cores between issue and wait: tell the compiler
// they change here so that no read of them moves above the wait.
template <int N> __device__ __forceinline__ void wgmmaFenceRegs(float (&d)[N][4]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      asm volatile("" : "+f"(d[i][e])::"memory");
}
// The same for A fragments read from registers.
template <int N> __device__ __forceinline__ void fenceRegs(unsigned (&a)[N][4]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      asm volatile("" : "+r"(a[i][e])::"memory");
}

#define SPDC_ACC4(i) "+f"(d[i][0]), "+f"(d[i][1]), "+f"(d[i][2]), "+f"(d[i][3])
#define SPDC_ACC_N64                                                                         \
  SPDC_ACC4(0), SPDC_ACC4(1), SPDC_ACC4(2), SPDC_ACC4(3), SPDC_ACC4(4), SPDC_ACC4(5),          \
      SPDC_ACC4(6), SPDC_ACC4(7)
#define SPDC_ACC_N128                                                                        \
  SPDC_ACC_N64, SPDC_ACC4(8), SPDC_ACC4(9), SPDC_ACC4(10), SPDC_ACC4(11), SPDC_ACC4(12),       \
      SPDC_ACC4(13), SPDC_ACC4(14), SPDC_ACC4(15)
#define SPDC_REGS_N64                                                                        \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, "     \
  "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define SPDC_REGS_N128                                                                       \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, "     \
  "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, "      \
  "%36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, "      \
  "%53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
// The operands after the accumulators are %X0, %X1, ... (X0 = N / 2).
// A from registers, B from shared memory, K-major (TB "0") or MN-major (TB "1"); always
// accumulates.
#define SPDC_WGMMA_RS(N, TY, TB, X0, X1, X2, X3, X4, X5)                                     \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" #X5 ", 0;\n"                             \
               "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TY "." TY " " SPDC_REGS_N##N  \
               ", {%" #X0 ", %" #X1 ", %" #X2 ", %" #X3 "}, %" #X4 ", p, 1, 1, " TB ";\n}\n" \
               : SPDC_ACC_N##N                                                                 \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(descB), "r"(1))

template <class T, int NB, bool kTransB>
__device__ __forceinline__ void wgmmaRS(float (&d)[NB][4], const unsigned (&a)[4],
                                        unsigned long long descB) {
  static_assert(NB == 8 || NB == 16, "wgmma N of 64 or 128");
#define SPDC_WGMMA_RS_TYPE(TY, TB)                                                           \
  if constexpr (NB == 8)                                                                     \
    SPDC_WGMMA_RS(64, TY, TB, 32, 33, 34, 35, 36, 37);                                       \
  else                                                                                       \
    SPDC_WGMMA_RS(128, TY, TB, 64, 65, 66, 67, 68, 69);
  if constexpr (IsSame<T, __half>::value) {
    if constexpr (kTransB) {
      SPDC_WGMMA_RS_TYPE("f16", "1")
    } else {
      SPDC_WGMMA_RS_TYPE("f16", "0")
    }
  } else {
    if constexpr (kTransB) {
      SPDC_WGMMA_RS_TYPE("bf16", "1")
    } else {
      SPDC_WGMMA_RS_TYPE("bf16", "0")
    }
  }
#undef SPDC_WGMMA_RS_TYPE
}
#undef SPDC_WGMMA_RS

// A and B from shared memory, both K-major; always accumulates.
#define SPDC_WGMMA_SS(N, TY, X0, X1, X2)                                                     \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" #X2 ", 0;\n"                             \
               "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TY "." TY " " SPDC_REGS_N##N  \
               ", %" #X0 ", %" #X1 ", p, 1, 1, 0, 0;\n}\n"                                     \
               : SPDC_ACC_N##N                                                                 \
               : "l"(descA), "l"(descB), "r"(1))

template <class T, int NB>
__device__ __forceinline__ void wgmmaSS(float (&d)[NB][4], unsigned long long descA,
                                        unsigned long long descB) {
  static_assert(NB == 8 || NB == 16, "wgmma N of 64 or 128");
#define SPDC_WGMMA_SS_TYPE(TY)                                                               \
  if constexpr (NB == 8)                                                                     \
    SPDC_WGMMA_SS(64, TY, 32, 33, 34);                                                       \
  else                                                                                       \
    SPDC_WGMMA_SS(128, TY, 64, 65, 66);
  if constexpr (IsSame<T, __half>::value) {
    SPDC_WGMMA_SS_TYPE("f16")
  } else {
    SPDC_WGMMA_SS_TYPE("bf16")
  }
#undef SPDC_WGMMA_SS_TYPE
}
#undef SPDC_WGMMA_SS
#undef SPDC_REGS_N128
#undef SPDC_REGS_N64
#undef SPDC_ACC_N128
#undef SPDC_ACC_N64
#undef SPDC_ACC4
#endif // SPDC_ATTENTION_WGMMA

// v[0] op v[1] op ... op v[2W - 1] as a tree of depth log2(2W) (a template, so that the steps
// unroll and v stays in registers); overwrites v.
template <int W, int N, class Op>
__device__ __forceinline__ float pairwiseReduce(float (&v)[N], Op op) {
  if constexpr (W == 0) {
    return v[0];
  } else {
#pragma unroll
    for (int i = 0; i < W; ++i)
      v[i] = op(v[i], v[i + W]);
    return pairwiseReduce<W / 2>(v, op);
  }
}

// Scale, mask and online softmax of one score tile in the m16n8 accumulator layout: s[nb][2r + e]
// is row `row0 + 8r`, key `n0 + 8nb + 2t + e`. Leaves in s the probabilities relative to the
// new running max (log2 domain) and in alpha each row's rescale factor for the output so far.
// kMasked: apply bounds, causal and mask (tiles that need it); otherwise only the scale.
// Returns whether any row of the warp moved its max (alpha is 1 for all of them otherwise).
// SPDC_ATTENTION_RESCALE_SLACK s >= 0: a row's max moves only when the tile's exceeds it by more
// than s (log2 units: probabilities up to 2^s, in f32 sums and f16/bf16 P alike), so that
// rescaling O becomes rare; < 0: every new max moves it. 8 (P up to 256, far from f16's 65504):
// the warp-specialized kernel 2-3 % faster on the H100 than with -1 (bench/notes/attention.md).
#ifndef SPDC_ATTENTION_RESCALE_SLACK
#define SPDC_ATTENTION_RESCALE_SLACK 8
#endif
template <bool kMasked, class Mod, class TMask, int NB>
__device__ __forceinline__ bool softmaxTile(float (&s)[NB][4], float (&rowMax)[2],
                                            float (&rowSum)[2], float (&alpha)[2],
                                            float scaleLog2, index_t row0, index_t n0, int t,
                                            index_t qLen, index_t kvLen, bool causal,
                                            const TMask *mask, index_t maskBase,
                                            index_t maskStrideQ, index_t maskStrideK) {
  constexpr float kLog2e = 1.4426950408889634f;
  constexpr int kTileKeys = NB * 8;
  const float ninf = -NumericLimits<float>::infinity();
  bool grew = false;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const index_t row = row0 + 8 * r;
    // Keys n0 + j with j >= visible are out of range or causally hidden for this row (32-bit
    // compares in the loop; the 64-bit arithmetic once per row).
    int visible = kTileKeys;
    const TMask *maskRow = nullptr;
    if constexpr (kMasked) {
      index_t lim = kvLen - n0;
      if (causal && row + kvLen - qLen + 1 - n0 < lim)
        lim = row + kvLen - qLen + 1 - n0;
      if (row >= qLen)
        lim = 0;
      visible = int(lim < 0 ? 0 : (lim < kTileKeys ? lim : kTileKeys));
      if constexpr (!IsSame<TMask, NoMask>::value)
        if (mask && row < qLen)
          maskRow = mask + maskBase + row * maskStrideQ + n0 * maskStrideK;
    }
    // Unmasked tiles (scaleLog2 > 0, see softmaxTileAt) keep the raw scores until the
    // exponentials, which fold the scale in (one FFMA per score); masked ones are scaled and
    // masked first. Max and sum reduce as trees, not as one dependent chain per row.
    static_assert((NB & (NB - 1)) == 0, "the reductions pair halves");
    float part[NB];
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        float &x = s[nb][2 * r + e];
        if constexpr (kMasked) {
          x *= scaleLog2;
          const int j = nb * 8 + 2 * t + e;
          if (j >= visible) {
            x = ninf;
          } else {
            x = Mod::apply(x, kLog2e);
            if constexpr (!IsSame<TMask, NoMask>::value) {
              if (maskRow) {
                const TMask mv = maskRow[j * maskStrideK];
                if constexpr (IsKeepMask<TMask>::value) {
                  if (!mv)
                    x = ninf;
                } else {
                  x += toFloat(mv) * kLog2e;
                }
              }
            }
          }
        }
      }
      part[nb] = fmaxf(s[nb][2 * r], s[nb][2 * r + 1]);
    }
    float tmax = pairwiseReduce<NB / 2>(part, [](float a, float b) { return fmaxf(a, b); });
    if constexpr (!kMasked)
      tmax *= scaleLog2;
    tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
    tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 2));
    float newMax = fmaxf(rowMax[r], tmax);
    if constexpr (SPDC_ATTENTION_RESCALE_SLACK >= 0)
      if (!(tmax > rowMax[r] + float(SPDC_ATTENTION_RESCALE_SLACK)))
        newMax = rowMax[r];
    grew |= newMax != rowMax[r];
    // While a row has seen only masked keys its max stays -inf: subtract 0 then, so that the
    // exponentials are 0 rather than NaN.
    const float base = newMax == ninf ? 0.0f : newMax;
    alpha[r] = fastExp2(rowMax[r] - base);
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        float &x = s[nb][2 * r + e];
        x = fastExp2(kMasked ? x - base : fmaf(x, scaleLog2, -base));
      }
      part[nb] = s[nb][2 * r] + s[nb][2 * r + 1];
    }
    const float sum = pairwiseReduce<NB / 2>(part, [](float a, float b) { return a + b; });
    rowSum[r] = rowSum[r] * alpha[r] + sum; // this thread's columns; summed over t at the end
    rowMax[r] = newMax;
  }
  return __any_sync(0xffffffffu, grew);
}

// Pieces both 128-row kernels share. Accumulators are in the m16n8 layout of a warp's 16 query
// rows (rows g and g + 8 of the lane's group g = lane / 4, columns 2t and 2t + 1, t = lane % 4).

// softmaxTile, masked when the tile needs it: a mask, keys past kvLen, or causal limits that
// reach into the tile for some row from `firstRow` on.
template <class Mod, class TMask, int NB>
__device__ __forceinline__ bool softmaxTileAt(float (&s)[NB][4], float (&rowMax)[2],
                                              float (&rowSum)[2], float (&alpha)[2],
                                              float scaleLog2, index_t row0, index_t n0, int t,
                                              index_t firstRow, index_t qLen, index_t kvLen,
                                              bool causal, const TMask *mask, index_t maskBase,
                                              index_t maskStrideQ, index_t maskStrideK) {
  constexpr int BN = NB * 8;
  // The unmasked path folds the scale into the exponentials after taking the max of the raw
  // scores, which needs scaleLog2 > 0 and no score modifier.
  if (Mod::kActive || mask != nullptr || n0 + BN > kvLen ||
      (causal && n0 + BN - 1 > firstRow + kvLen - qLen) || !(scaleLog2 > 0.0f))
    return softmaxTile<true, Mod>(s, rowMax, rowSum, alpha, scaleLog2, row0, n0, t, qLen, kvLen,
                                  causal, mask, maskBase, maskStrideQ, maskStrideK);
  return softmaxTile<false, Mod>(s, rowMax, rowSum, alpha, scaleLog2, row0, n0, t, qLen, kvLen,
                                 causal, mask, maskBase, maskStrideQ, maskStrideK);
}

template <int NBV>
__device__ __forceinline__ void rescaleRows(float (&o)[NBV][4], const float (&alpha)[2]) {
#pragma unroll
  for (int nb = 0; nb < NBV; ++nb) {
    o[nb][0] *= alpha[0];
    o[nb][1] *= alpha[0];
    o[nb][2] *= alpha[1];
    o[nb][3] *= alpha[1];
  }
}

// P rounded to T: the accumulator layout of two key blocks is one A fragment.
template <class T, int NB>
__device__ __forceinline__ void packProbabilities(unsigned (&p)[NB / 2][4],
                                                  const float (&s)[NB][4]) {
#pragma unroll
  for (int kk = 0; kk < NB / 2; ++kk) {
    p[kk][0] = packHalf2<T>(s[2 * kk][0], s[2 * kk][1]);
    p[kk][1] = packHalf2<T>(s[2 * kk][2], s[2 * kk][3]);
    p[kk][2] = packHalf2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
    p[kk][3] = packHalf2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
  }
}

// out rows row0 and row0 + 8 (below qLen) = O / the row's sum over its 4 lanes, or zeros.
template <class T, int NBV>
__device__ __forceinline__ void storeRows(const float (&o)[NBV][4], const float (&rowSum)[2],
                                          index_t row0, index_t qLen, T *ob, int oRow, int t) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float inv = rowScale(rowSum[r]);
    const index_t row = row0 + 8 * r;
    if (row >= qLen)
      continue;
#pragma unroll
    for (int nb = 0; nb < NBV; ++nb) {
      const unsigned pr = packHalf2<T>(o[nb][2 * r] * inv, o[nb][2 * r + 1] * inv);
      memcpy(ob + row * oRow + nb * 8 + 2 * t, &pr, 4);
    }
  }
}

// storeRows through shared memory: the warpgroup's 64 rows of O / sum go to its staging tile
// `stage` (rows of DV * 2 bytes, 16-byte chunks XOR-swizzled by row so that neither the
// fragments' 4-byte writes nor the 16-byte reads conflict), then its 128 threads store whole
// rows in coalesced 16-byte pieces. `bar` is a named barrier of the warpgroup's 128 threads;
// `wgRow0` its first row; ctid the thread's index in the warpgroup.
template <class T, int NBV>
__device__ __forceinline__ void storeRowsStaged(const float (&o)[NBV][4], const float (&rowSum)[2],
                                                index_t wgRow0, index_t qLen, T *ob, int oRow,
                                                unsigned char *stage, unsigned bar, int ctid) {
  constexpr int DV = NBV * 8, kRowBytes = DV * 2, kChunks = kRowBytes / 16;
  const int lane = ctid & 31, warp = ctid >> 5, g = lane >> 2, t = lane & 3;
  auto chunkAt = [](int row, int chunk) { return row * kRowBytes + ((chunk ^ (row & 7)) << 4); };
  namedBarrierSync(bar, 128); // the previous tile's rows have left
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float inv = rowScale(rowSum[r]);
    const int row = warp * 16 + g + 8 * r;
#pragma unroll
    for (int nb = 0; nb < NBV; ++nb) {
      // A 4-byte store: the staging tile is 1024-byte aligned and the offset a multiple of 4
      // (memcpy through the byte pointer compiled to four 1-byte stores).
      *reinterpret_cast<unsigned *>(stage + chunkAt(row, nb) + 4 * t) =
          packHalf2<T>(o[nb][2 * r] * inv, o[nb][2 * r + 1] * inv);
    }
  }
  namedBarrierSync(bar, 128);
  const bool vec = rowsAligned16(ob, oRow);
#pragma unroll
  for (int k = 0; k < 64 * kChunks / 128; ++k) {
    const int i = ctid + 128 * k, row = i / kChunks, chunk = i % kChunks;
    const index_t grow = wgRow0 + row;
    if (grow >= qLen)
      continue;
    const uint4 v = *reinterpret_cast<const uint4 *>(stage + chunkAt(row, chunk));
    T *dst = ob + grow * oRow + chunk * 8;
    if (vec)
      *reinterpret_cast<uint4 *>(dst) = v;
    else
      memcpy(dst, &v, 16);
  }
}

// mma.sync: S = Q K^T for the warp's 16 rows and a swizzled K tile of BN keys at kBase.
template <class T, int D, int BN>
__device__ __forceinline__ void mmaScores(float (&s)[BN / 8][4], const unsigned (&qa)[D / 16][4],
                                          unsigned kBase, int lane) {
  zeroFragments(s);
  const int i = lane >> 3; // which of the four 8x8 matrices this lane addresses
#pragma unroll
  for (int ks = 0; ks < D / 16; ++ks)
#pragma unroll
    for (int nb = 0; nb < BN / 8; nb += 2) {
      unsigned kf[4];
      ldmatrixX4(kf, kBase + swizzledOffset<BN>((nb + (i >> 1)) * 8 + (lane & 7),
                                                2 * ks + (i & 1)));
      mma16816<T>(s[nb], qa[ks], kf[0], kf[1]);
      mma16816<T>(s[nb + 1], qa[ks], kf[2], kf[3]);
    }
}

// mma.sync: O += P V for a swizzled V tile of BN keys at vBase.
template <class T, int BN, int DV>
__device__ __forceinline__ void mmaAccumulatePV(float (&o)[DV / 8][4],
                                                const unsigned (&p)[BN / 16][4], unsigned vBase,
                                                int lane) {
  const int i = lane >> 3;
#pragma unroll
  for (int kk = 0; kk < BN / 16; ++kk)
#pragma unroll
    for (int nb = 0; nb < DV / 8; nb += 2) {
      unsigned vf[4];
      ldmatrixX4Trans(vf, vBase + swizzledOffset<BN>(kk * 16 + (i & 1) * 8 + (lane & 7),
                                                     nb + (i >> 1)));
      mma16816<T>(o[nb], p[kk], vf[0], vf[1]);
      mma16816<T>(o[nb + 1], p[kk], vf[2], vf[3]);
    }
}

#if SPDC_ATTENTION_WGMMA
// wgmma, one committed batch: S = Q K^T for the warpgroup's 64 rows (Q's fragments in
// registers) and a K tile of BN keys at kBase. Registers the tensor cores read or write (S, and
// O and P of a batch that may still be in flight) are fenced on both sides of each batch so
// that the compiler moves no access to them into the batch.
template <int NB, int NBV>
__device__ __forceinline__ void beginScores(float (&s)[NB][4], float (&o)[NBV][4],
                                            unsigned (&p)[NB / 2][4]) {
  zeroFragments(s);
  wgmmaFenceRegs(s);
  wgmmaFenceRegs(o);
  fenceRegs(p);
  wgmmaFence();
}

template <class T, int D, int BN, int NBV>
__device__ __forceinline__ void wgmmaScores(float (&s)[BN / 8][4], float (&o)[NBV][4],
                                            unsigned (&p)[BN / 16][4],
                                            const unsigned (&qa)[D / 16][4], unsigned kBase) {
  beginScores(s, o, p);
  const WgmmaDesc kDesc = wgmmaDesc(kBase, 16, 1024);
#pragma unroll
  for (int ks = 0; ks < D / 16; ++ks)
    wgmmaRS<T, BN / 8, false>(s, qa[ks],
                              wgmmaDescAdd(kDesc, (ks >> 2) * (BN * 128) + (ks & 3) * 32));
  wgmmaCommit();
}

// The same with Q from shared memory: the warpgroup's 64 rows of a swizzled Q tile of BM
// rows (qBase: the warpgroup's first row).
template <class T, int D, int BM, int BN, int NBV>
__device__ __forceinline__ void wgmmaScores(float (&s)[BN / 8][4], float (&o)[NBV][4],
                                            unsigned (&p)[BN / 16][4], unsigned qBase,
                                            unsigned kBase) {
  beginScores(s, o, p);
  // Both tiles are K-major in 64-element panels of 128-byte rows; k step ks is 32 bytes into
  // panel ks / 4.
  const WgmmaDesc qDesc = wgmmaDesc(qBase, 16, 1024), kDesc = wgmmaDesc(kBase, 16, 1024);
#pragma unroll
  for (int ks = 0; ks < D / 16; ++ks)
    wgmmaSS<T, BN / 8>(s, wgmmaDescAdd(qDesc, (ks >> 2) * (BM * 128) + (ks & 3) * 32),
                       wgmmaDescAdd(kDesc, (ks >> 2) * (BN * 128) + (ks & 3) * 32));
  wgmmaCommit();
}

// wgmma, one committed batch: O += P V for a V tile of BN keys at vBase.
template <class T, int BN, int NBV>
__device__ __forceinline__ void wgmmaPV(float (&o)[NBV][4], const unsigned (&p)[BN / 16][4],
                                        unsigned vBase) {
  const WgmmaDesc vDesc = wgmmaDesc(vBase, BN * 128, 1024);
#pragma unroll
  for (int kk = 0; kk < BN / 16; ++kk)
    wgmmaRS<T, NBV, true>(o, p[kk], wgmmaDescAdd(vDesc, kk * 16 * 128));
  wgmmaCommit();
}
#endif

// One 128-row query tile; `smem` is the 1024-byte aligned dynamic shared memory.
template <class T, class TMask, int HeadDim, int HeadDimV, class Mod>
__device__ __forceinline__ void
attentionTileFast(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
                  const TMask *__restrict__ mask, T *__restrict__ out, index_t tile, int qHeads,
                  int kvHeads, index_t qLen, index_t kvLen, float scale, bool causal,
                  index_t maskStrideB, index_t maskStrideH, index_t maskStrideQ,
                  index_t maskStrideK, const AttentionStrides &st, unsigned char *smem) {
  using Cfg = AttentionFwdConfig<HeadDim, HeadDimV>;
  constexpr int D = HeadDim, DV = HeadDimV, BM = Cfg::kBlockM, BN = Cfg::kBlockN,
                NT = Cfg::kThreads;
  constexpr int NB = BN / 8, NBV = DV / 8;
  auto sK = [&](int stage) { return smem + stage * Cfg::kStageBytes; };
  auto sV = [&](int stage) { return sK(stage) + Cfg::kKBytes; };

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const index_t m0 = tile * BM;
  const AttentionSlices<T> head =
      attentionSlices(q, k, v, out, qHeads, kvHeads, st, maskStrideB, maskStrideH);
  const T *qb = head.q, *kb = head.k, *vb = head.v;
  T *ob = head.out;
  const index_t maskBase = head.maskBase;
  const bool vec = rowsAligned16(qb, head.qRow) && rowsAligned16(kb, head.kRow) &&
                   rowsAligned16(vb, head.vRow);
  const int tid = int(threadIdx.x);
  // This thread's rows: g and g + 8 of the warp's 16.
  const index_t row0 = m0 + warp * 16 + g;
  const float scaleLog2 = scale * 1.4426950408889634f;

  const index_t kvEnd = attentionKeyEnd(m0, BM, qLen, kvLen, causal);
  const index_t nTiles = kvEnd > 0 ? (kvEnd + BN - 1) / BN : 0;

  const float ninf = -NumericLimits<float>::infinity();
  float rowMax[2] = {ninf, ninf}, rowSum[2] = {0.0f, 0.0f};
  float o[NBV][4];
  zeroFragments(o);

  __syncthreads(); // the previous tile of this block is done with shared memory
  if (nTiles > 0) {
    // Q through the staging stages, key tile 0 into stage 0; then the warp's 16 query rows as
    // A fragments, loaded once.
    loadTileSwizzled<T, BM, D, NT>(sK(Cfg::kQStage), qb, head.qRow, m0, qLen, vec, tid);
    loadTileSwizzled<T, BN, D, NT>(sK(0), kb, head.kRow, 0, kvLen, vec, tid);
    loadTileSwizzled<T, BN, DV, NT>(sV(0), vb, head.vRow, 0, kvLen, vec, tid);
    cpAsyncCommit();
    cpAsyncWait<0>();
    __syncthreads();
    unsigned qa[D / 16][4];
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks)
      ldmatrixX4(qa[ks], smemAddr(sK(Cfg::kQStage)) +
                             swizzledOffset<BM>(warp * 16 + (lane & 15), 2 * ks + (lane >> 4)));

    // Tile j has landed (this thread's copies, then everyone's through the barrier), and every
    // warp is past tile j - 1: the stage of tile j - 2 (at j == 0, Q's staging) takes j + 1.
    auto beginTile = [&](index_t j) {
      cpAsyncWait<0>();
#if SPDC_ATTENTION_WGMMA
      // cp.async wrote through the generic proxy; wgmma reads through the async proxy.
      fenceProxyAsync();
#endif
      __syncthreads();
      if (j + 1 < nTiles) {
        const int next = int((j + 1) % Cfg::kStages);
        loadTileSwizzled<T, BN, D, NT>(sK(next), kb, head.kRow, (j + 1) * BN, kvLen, vec, tid);
        loadTileSwizzled<T, BN, DV, NT>(sV(next), vb, head.vRow, (j + 1) * BN, kvLen, vec, tid);
        cpAsyncCommit();
      }
    };
    auto softmax = [&](float (&s)[NB][4], index_t j, float (&alpha)[2]) {
      softmaxTileAt<Mod>(s, rowMax, rowSum, alpha, scaleLog2, row0, j * BN, t, m0, qLen, kvLen,
                         causal, mask, maskBase, maskStrideQ, maskStrideK);
    };

#if SPDC_ATTENTION_WGMMA
    // Per warpgroup: S_j = Q K_j^T, then O += P_{j-1} V_{j-1} queued behind it; the softmax of
    // S_j runs while the tensor cores finish P_{j-1} V_{j-1}. Registers the tensor cores read
    // or write are fenced (wgmmaFenceRegs / fenceRegs) around each batch.
    float s[NB][4];
    unsigned p[BN / 16][4];
    auto issueScores = [&](index_t j) {
      wgmmaScores<T, D, BN>(s, o, p, qa, smemAddr(sK(int(j % Cfg::kStages))));
    };
    auto issuePV = [&](index_t j) {
      wgmmaPV<T, BN>(o, p, smemAddr(sV(int(j % Cfg::kStages))));
    };
    float alpha[2];
    beginTile(0);
    issueScores(0);
    wgmmaWait<0>();
    wgmmaFenceRegs(s);
    softmax(s, 0, alpha); // O is still zero: nothing to rescale
    packProbabilities<T>(p, s);
    for (index_t j = 1; j < nTiles; ++j) {
      beginTile(j);
      issueScores(j);
      issuePV(j - 1);
      wgmmaWait<1>();
      wgmmaFenceRegs(s);
      softmax(s, j, alpha);
      wgmmaWait<0>();
      wgmmaFenceRegs(o);
      fenceRegs(p);
      rescaleRows(o, alpha);
      packProbabilities<T>(p, s);
    }
    wgmmaFenceRegs(o);
    fenceRegs(p);
    wgmmaFence();
    issuePV(nTiles - 1);
    wgmmaWait<0>();
    wgmmaFenceRegs(o);
    fenceRegs(p);
#else
    for (index_t j = 0; j < nTiles; ++j) {
      const int stage = int(j % Cfg::kStages);
      beginTile(j);
      float s[NB][4];
      mmaScores<T, D, BN>(s, qa, smemAddr(sK(stage)), lane);
      float alpha[2];
      softmax(s, j, alpha);
      rescaleRows(o, alpha);
      unsigned p[BN / 16][4];
      packProbabilities<T>(p, s);
      mmaAccumulatePV<T, BN, DV>(o, p, smemAddr(sV(stage)), lane);
    }
#endif
  }
  storeRows<T>(o, rowSum, row0, qLen, ob, head.oRow, t);
}

//===--- warp-specialized 128-row path (attention_fwd_ws_kernel) ---===//
//
// The same tiles and math as the 128-row path above, organized for Hopper. For f16/bf16 with
// head dims 64 or 128. A block of three warpgroups owns 128 query rows:
// warpgroup 0 is the producer, which only copies (cp.async) the block's Q tile and its K/V
// tiles of kBlockN keys into shared memory; warpgroups 1 and 2 are the consumers, 64 query rows
// each (16 per warp), which keep Q in registers as MMA A fragments. K/V tiles stream through
// kStages shared-memory stages; each stage has a "full" mbarrier (the producer's copies landed)
// and an "empty" one (both consumers are done reading it), Q has the same pair, so no
// block-wide barrier runs once the roles split. Scores and probabilities stay in registers in the
// m16n8 accumulator layout, softmax runs in the log2 domain (scale * log2(e) folded into one
// multiply, ex2.approx), and causal blocks stop at their last visible key. Two compute variants
// share everything else:
//   sm_90a (__CUDA_ARCH_FEAT_SM90_ALL): each consumer warpgroup issues wgmma with A from
//     registers: S_j = Q K_j^T, then O += P_{j-1} V_{j-1}, and computes the softmax of S_j while
//     the tensor cores still work on P_{j-1} V_{j-1}. The two consumers issue independently:
//     one's softmax runs under the other's matrix products as the tensor cores take the
//     batches in turn. (Strict turns, named barriers between the two, "ping-pong", measured
//     2-3 % slower on the H100.) The producer gives registers back (setmaxnreg) to the
//     consumers.
//   otherwise (sm_80, sm_90): mma.sync m16n8k16 per warp, fragments through ldmatrix.
//
// BlockN keys per tile: 128 when both head dims are 64. At head dim 128, 128 keys need 161 KiB of
// shared memory (sm_80 and sm_90 give a block up to 163 and 227 KiB, sm_86/sm_89 99 KiB) and
// the wgmma registers; 64 keys fit 99 KiB everywhere.
template <int HeadDim, int HeadDimV, int BlockN = ((HeadDim <= 64 && HeadDimV <= 64) ? 128 : 64),
          bool Tma = false>
struct AttentionWsConfig {
  static constexpr int kProducerThreads = 128; // warpgroup 0
  static constexpr int kConsumerThreads = 256; // warpgroups 1 and 2
  static constexpr int kThreads = kProducerThreads + kConsumerThreads;
  static constexpr int kBlockM = kConsumerThreads / 32 * 16; // 128: 16 rows per consumer warp
  static constexpr int kBlockN = BlockN;
  static constexpr int kStages = 2;
  static constexpr int kKBytes = kBlockN * HeadDim * 2;
  static constexpr int kVBytes = kBlockN * HeadDimV * 2;
  static constexpr int kStageBytes = kKBytes + kVBytes;
  // Q's tile follows the stages.
  static constexpr int kQOffset = kStages * kStageBytes;
  static constexpr int kQBytes = kBlockM * HeadDim * 2;
  // Slack to round the dynamic shared memory base up to 1024 bytes.
  static constexpr int kAlignSlack = 1024;
  // wgmma reads Q from shared memory where Q's fragments would not fit beside S, P and O: 128
  // keys at head dim 128. Otherwise the consumers keep Q in registers.
  static constexpr bool kQInSmem = HeadDim > 64 && BlockN == 128;
  // The output tile passes through shared memory, so that rows leave in coalesced 16-byte
  // stores (storing the accumulator fragments directly writes 4 bytes per lane, 16 per row and
  // instruction: Nsight Compute put a quarter of GPT-2's attention time there), where it fits
  // the launch's budget: the 99 KiB every sm_80+ GPU gives a block (less 1 KiB for the static
  // barriers), or the wide tiles' sm_90a launch. Not at head dim 128 with 64-key tiles.
  static constexpr int kOOffset = kQOffset + kQBytes;
  static constexpr int kOBytes = kBlockM * HeadDimV * 2;
  static constexpr int kPortableSmemBytes = 99 * 1024 - 1024;
  static constexpr bool kStageO =
      kQInSmem || kOOffset + kOBytes + kAlignSlack <= kPortableSmemBytes;
  // 99 328 bytes at head dims 128 and 64 keys and at head dims 64 (O staged), 197 632 at head
  // dim 128 and 128 keys. Mirrored in Codegen.cpp emitAttention.
  static constexpr int kSmemBytes = kOOffset + (kStageO ? kOBytes : 0) + kAlignSlack;
  // Registers per thread after the split (sm_90a): the launch gives 65536 / 384 = 168 (rounded
  // down to 8); 128 * 48 + 256 * 224 and 128 * 40 + 256 * 232 <= 384 * 168.
  // With tensor copies (Tma) one producer thread issues them all: 24 registers do, and the
  // consumers get 240 (128 * 24 + 256 * 240 = 384 * 168).
  static constexpr int kProducerRegs = Tma ? 24 : kQInSmem ? 40 : 48;
  static constexpr int kConsumerRegs = Tma ? 240 : kQInSmem ? 232 : 224;
  static_assert(HeadDim % 64 == 0 && HeadDimV % 64 == 0 && HeadDim <= 128 && HeadDimV <= 128,
                "the 128-row path takes head dims 64 and 128");
  static_assert(BlockN == 64 || BlockN == 128, "key tiles of 64 or 128");
  static_assert(kStageBytes % 1024 == 0 && kKBytes % 1024 == 0, "tiles stay 1024-byte aligned");
  static_assert(kSmemBytes <= 227 * 1024, "attention tiles exceed 227 KiB of shared memory");
  static_assert(kProducerThreads * kProducerRegs + kConsumerThreads * kConsumerRegs <=
                    kThreads * (65536 / kThreads / 8 * 8),
                "the register split fits the block's registers");
};

// The mbarriers of the warp-specialized path, in static shared memory: per stage and for K and V apart,
// "full" (the producer's 128 threads arrive once each) and "empty" (the consumers' 256 threads
// arrive once each), and the same pair for Q. K_j is released once S_j is computed, V_j once
// P_j V_j is, so the producer refills K's stage half a tile earlier than V's.
template <int Stages> struct AttentionBarriers {
  unsigned long long full[2][Stages], empty[2][Stages], qFull, qEmpty;
  // The work items in flight: the producer's threads read item[i % 2] for their i-th fetch;
  // the consumers read `published` and the item decoded (its batch-head, first row and key
  // tiles), written with Q (guarded by qFull / qEmpty): decoding it (two 64-bit divisions) took
  // the consumers 770 cycles between Q's barrier and their first product.
  long long item[2], published, pubHead, pubRow0, pubTiles;
};

// The warp-specialized kernel's work queue, one per module (NVRTC compiles one per model, whose
// launches are ordered on its stream): blocks take the next (query tile, head) item as they
// finish one, and the last block to find the queue empty resets it for the next launch.
static __device__ unsigned long long attentionWsNextItem, attentionWsBlocksDone;

// The L2 share, in MiB, whose worth of heads' K and V the blocks walk together (see the work
// items in attentionBlockWs): a third of the H100's 50 MB.
#ifndef SPDC_ATTENTION_L2_GROUP_MB
#define SPDC_ATTENTION_L2_GROUP_MB 16
#endif
// SPDC_ATTENTION_TMA_L2_HINTS 1: the tensor copies of K and V carry L2's evict-last policy (the
// blocks of a head group read them again) and those of Q evict-first (each Q tile is read once);
// 0: no hints.
#ifndef SPDC_ATTENTION_TMA_L2_HINTS
#define SPDC_ATTENTION_TMA_L2_HINTS 0
#endif

// The warp-specialized path over the (query tile, head) items its block takes from the work
// queue (the longest first: under causal masking the last tiles have the most keys, so the
// short ones fill the tail). `smem` is the 1024-byte aligned dynamic shared memory. The producer
// takes each item and hands it to the consumers with its Q tile, so both walk the same tiles and
// key tiles and their stage counters agree.
template <class T, class TMask, int HeadDim, int HeadDimV, int BlockN, bool Tma, class Mod>
__device__ __forceinline__ void
attentionBlockWs(const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
                   const TMask *__restrict__ mask, T *__restrict__ out, int batch, int qHeads,
                   int kvHeads,
                   index_t qLen, index_t kvLen, float scale, bool causal, index_t maskStrideB,
                   index_t maskStrideH, index_t maskStrideQ, index_t maskStrideK,
                   const AttentionStrides &st, unsigned char *smem,
                   AttentionBarriers<AttentionWsConfig<HeadDim, HeadDimV, BlockN>::kStages> &bars,
                   const TmaDescriptor *const *maps) {
  using Cfg = AttentionWsConfig<HeadDim, HeadDimV, BlockN, Tma>;
  constexpr int D = HeadDim, DV = HeadDimV, BM = Cfg::kBlockM, BN = Cfg::kBlockN,
                NP = Cfg::kProducerThreads, NC = Cfg::kConsumerThreads, S = Cfg::kStages;
  constexpr int NB = BN / 8, NBV = DV / 8;
  auto sK = [&](unsigned stage) { return smem + stage * Cfg::kStageBytes; };
  auto sV = [&](unsigned stage) { return sK(stage) + Cfg::kKBytes; };
  unsigned char *sQ = smem + Cfg::kQOffset;
  // Barrier addresses: which = 0 for K, 1 for V.
  auto fullBar = [&](int which, unsigned tileIt) {
    return smemAddr(&bars.full[which][tileIt % S]);
  };
  auto emptyBar = [&](int which, unsigned tileIt) {
    return smemAddr(&bars.empty[which][tileIt % S]);
  };
  const unsigned qFull = smemAddr(&bars.qFull), qEmpty = smemAddr(&bars.qEmpty);

  // Tensor copies: one producer thread arrives on a full barrier, expecting the tile's bytes
  // (for Q: with the item's publication); cp.async: each of the producer's threads, and the
  // publication once more.
  if (threadIdx.x == 0) {
    for (unsigned i = 0; i < S; ++i)
      for (int which = 0; which < 2; ++which) {
        mbarInit(fullBar(which, i), Tma ? 1 : NP);
        mbarInit(emptyBar(which, i), NC);
      }
    mbarInit(qFull, Tma ? 1 : NP + 1);
    mbarInit(qEmpty, NC);
    if constexpr (Tma)
      fenceMbarrierInit();
  }
  __syncthreads(); // the last block-wide barrier: the roles split below

  // Work items: (query tile, batch-head) pairs, in groups of heads whose K and V fit a share of
  // L2 together (kL2Bytes), so that the blocks working at one time share their K/V tiles through
  // L2 (walking every head at once, Nsight Compute measured a 43 % L2 hit rate at S 4096, and
  // twice the DRAM reads of cuDNN); within a group, the tiles with the most keys first (under
  // causal masking the last tiles; the short ones fill the tail). Blocks take items from the
  // work queue as they go (a block taking every gridDim-th item instead, Llama's and the causal
  // benchmark's shapes give some blocks 1.2-1.3 times the average work); with one block per SM
  // the producer loads the next item while the consumers finish one.
  constexpr index_t kL2Bytes = index_t(SPDC_ATTENTION_L2_GROUP_MB) << 20;
  const index_t tiles = (qLen + BM - 1) / BM, heads = index_t(batch) * qHeads;
  const index_t items = tiles * heads;
  const index_t headBytes = (kvLen > 0 ? kvLen : 1) * (D + DV) * index_t(sizeof(T));
  const index_t group = headBytes < kL2Bytes ? kL2Bytes / headBytes : 1;
  struct Item {
    index_t head, row0;
  };
  auto itemAt = [&](index_t w) {
    const index_t g = w / (tiles * group), r = w % (tiles * group);
    const index_t groupHeads = heads - g * group < group ? heads - g * group : group;
    return Item{g * group + r % groupHeads, (tiles - 1 - r / groupHeads) * BM};
  };
  auto itemSlices = [&](const Item &it) {
    return attentionSlices(q, k, v, out, qHeads, kvHeads, st, maskStrideB, maskStrideH,
                           int(it.head));
  };
  auto keyTiles = [&](index_t m0) {
    const index_t kvEnd = attentionKeyEnd(m0, BM, qLen, kvLen, causal);
    return kvEnd > 0 ? (kvEnd + BN - 1) / BN : index_t(0);
  };

  // The roles split by warp. The warp index is broadcast from lane 0 so that the compiler knows
  // it (and the branch below) to be warp-uniform: the consumers' wgmma descriptors of Q are then
  // computed in uniform registers instead of being moved there for every instruction (those of
  // the K and V stages also need the tile counter broadcast, in the key loop).
  const int warpInBlock = __shfl_sync(0xffffffffu, int(threadIdx.x) / 32, 0);
  if (warpInBlock < NP / 32) {
    //===--- producer ---===//
#if SPDC_ATTENTION_WGMMA
    setMaxRegsDec<Cfg::kProducerRegs>();
#endif
    const int tid = int(threadIdx.x);
    // With tensor copies thread 0 does all of the producer's work: the other threads leave.
    constexpr bool kTma = SPDC_ATTENTION_WGMMA && Tma;
    if constexpr (kTma) {
      if (tid != 0)
        return;
      for (int m = 0; m < 3; ++m)
        tmaPrefetchDescriptor(*maps[m]);
    }
    // cp.async: copies land and count as this thread's arrival; plain stores (unaligned
    // operands) are made visible to the tensor cores' proxy first, then arrive.
    bool vec = true;
    auto arrive = [&](unsigned bar) {
      if (vec) {
        mbarArriveOnCopies(bar);
      } else {
#if SPDC_ATTENTION_WGMMA
        fenceProxyAsync();
#endif
        mbarArrive(bar);
      }
    };
    // A tile of `rows` rows at (row0, head, batch) of map `m` into `dst`, completing on `bar`:
    // one tensor copy per 64-column panel (the maps' 128-byte swizzle is the tiles' layout,
    // swizzledOffset); rows past the end arrive as zeros.
    constexpr bool kHints = SPDC_ATTENTION_TMA_L2_HINTS != 0;
    unsigned long long policies[2] = {0, 0}; // Q's, then K's and V's
    if constexpr (kTma && kHints) {
      policies[0] = l2EvictFirstPolicy();
      policies[1] = l2EvictLastPolicy();
    }
    auto copyTile = [&](int m, int cols, int rows, unsigned dst, index_t row0, int head, int b,
                        unsigned bar) {
      for (int pnl = 0; pnl < cols / 64; ++pnl)
        tmaLoad4d<kHints>(dst + pnl * rows * 128, *maps[m], pnl * 64, int(row0), head, b, bar,
                          policies[m == 0 ? 0 : 1]);
    };
    constexpr unsigned kProducerBar = 3; // after the consumers' store barriers (1, 2)
    unsigned it = 0, qIt = 0;
    for (unsigned fetch = 0;; ++fetch) {
      // Thread 0 takes the next item (cp.async: the barrier hands it to the others; item[]
      // alternates, so thread 0 writes a slot again only after every thread passed the
      // barrier after it).
      index_t w;
      if constexpr (kTma) {
        w = index_t(atomicAdd(&attentionWsNextItem, 1ull));
      } else {
        if (tid == 0)
          bars.item[fetch & 1] = index_t(atomicAdd(&attentionWsNextItem, 1ull));
        namedBarrierSync(kProducerBar, NP);
        w = bars.item[fetch & 1];
      }
      w = w < items ? w : items;
      // Publish it with its Q tile (or alone: an item without keys, the end of the queue). With
      // tensor copies the publication and the Q tile are the one arrival.
      mbarWait(qEmpty, (qIt & 1) ^ 1);
      // Decoded once, for the consumers too (the end of the queue, w == items, has no item:
      // itemAt would divide by zero there).
      const Item item = w < items ? itemAt(w) : Item{0, 0};
      const index_t m0 = item.row0, nTiles = keyTiles(m0);
      if (tid == 0) {
        bars.published = w;
        bars.pubHead = item.head;
        bars.pubRow0 = m0;
        bars.pubTiles = nTiles;
        if constexpr (!kTma)
          mbarArrive(qFull); // releases the store above to the consumers
      }
      ++qIt;
      if (w == items) {
        mbarArrive(qFull);
        // The last block to find the queue empty resets it for the next launch.
        if (tid == 0 && atomicAdd(&attentionWsBlocksDone, 1ull) ==
                            (unsigned long long)gridDim.x * gridDim.y * gridDim.z - 1) {
          attentionWsBlocksDone = 0;
          attentionWsNextItem = 0;
        }
        break;
      }
      if (nTiles == 0) {
        mbarArrive(qFull);
        continue;
      }
      if constexpr (kTma) {
        // The maps are 4-d: (column, row, head, batch).
        const int b = int(item.head / qHeads), h = int(item.head % qHeads);
        const int hk = h / (qHeads / kvHeads);
        mbarArriveExpectTx(qFull, Cfg::kQBytes);
        copyTile(0, D, BM, smemAddr(sQ), m0, h, b, qFull);
        // K_j, V_j in turn, each once the consumers freed its stage.
        for (index_t j = 0; j < nTiles; ++j) {
          const unsigned tileIt = it + unsigned(j);
          mbarWait(emptyBar(0, tileIt), ((tileIt / S) & 1) ^ 1);
          mbarArriveExpectTx(fullBar(0, tileIt), Cfg::kKBytes);
          copyTile(1, D, BN, smemAddr(sK(tileIt % S)), j * BN, hk, b, fullBar(0, tileIt));
          mbarWait(emptyBar(1, tileIt), ((tileIt / S) & 1) ^ 1);
          mbarArriveExpectTx(fullBar(1, tileIt), Cfg::kVBytes);
          copyTile(2, DV, BN, smemAddr(sV(tileIt % S)), j * BN, hk, b, fullBar(1, tileIt));
        }
      } else {
        const AttentionSlices<T> head = itemSlices(item);
        const T *qb = head.q, *kb = head.k, *vb = head.v;
        vec = rowsAligned16(qb, head.qRow) && rowsAligned16(kb, head.kRow) &&
              rowsAligned16(vb, head.vRow);
        loadTileSwizzled<T, BM, D, NP>(sQ, qb, head.qRow, m0, qLen, vec, tid);
        arrive(qFull);
        // K_j, V_j in turn, each into the stage of pipeline tile it + j once the consumers
        // freed it. (Issuing K one tile ahead of V measured slower on the H100: B4 H16 S4096
        // D128 1.109-1.121 ms against 1.093, causal 0.756 against 0.715.)
        for (index_t j = 0; j < nTiles; ++j) {
          const unsigned tileIt = it + unsigned(j);
          mbarWait(emptyBar(0, tileIt), ((tileIt / S) & 1) ^ 1);
          loadTileSwizzled<T, BN, D, NP>(sK(tileIt % S), kb, head.kRow, j * BN, kvLen, vec, tid);
          arrive(fullBar(0, tileIt));
          mbarWait(emptyBar(1, tileIt), ((tileIt / S) & 1) ^ 1);
          loadTileSwizzled<T, BN, DV, NP>(sV(tileIt % S), vb, head.vRow, j * BN, kvLen, vec,
                                          tid);
          arrive(fullBar(1, tileIt));
        }
      }
      it += unsigned(nTiles);
    }
    // No copy outlives its thread: wait for all of them (they were never committed as groups).
    cpAsyncCommit();
    cpAsyncWait<0>();
  } else {
  //===--- consumers ---===//
#if SPDC_ATTENTION_WGMMA
  setMaxRegsInc<Cfg::kConsumerRegs>();
#endif
  const int ctid = int(threadIdx.x) - NP;
  const int lane = ctid & 31, warp = warpInBlock - NP / 32, wg = warp >> 2;
  const int g = lane >> 2, t = lane & 3;
  const float scaleLog2 = scale * 1.4426950408889634f;
  const float ninf = -NumericLimits<float>::infinity();
  // Each warpgroup's own barrier (the staged output stores).
  constexpr unsigned kWgBar = 1;
  unsigned it = 0, qIt = 0;
  for (;;) {
    // The next item, published with its Q tile.
    mbarWait(qFull, qIt & 1);
    ++qIt;
    const index_t w = bars.published;
    if (w == items)
      break;
    const Item item{bars.pubHead, bars.pubRow0};
    const index_t m0 = item.row0, nTiles = bars.pubTiles;
    const AttentionSlices<T> head = itemSlices(item);
    const index_t maskBase = head.maskBase;
    // This thread's rows: g and g + 8 of the warp's 16.
    const index_t row0 = m0 + warp * 16 + g;
    // The warpgroup's first row: key tiles past its causal limit need the masked softmax.
    const index_t wgRow = m0 + wg * 64;
    float rowMax[2] = {ninf, ninf}, rowSum[2] = {0.0f, 0.0f};
    float o[NBV][4];
    zeroFragments(o);

    if (nTiles == 0)
      mbarArrive(qEmpty); // nothing was loaded; the producer may publish the next item
    if (nTiles > 0) {
      // Q's fragments go to registers and Q's tile back to the producer, unless wgmma reads Q
      // from shared memory (Cfg::kQInSmem), which releases it once the tile's last scores are
      // computed.
      constexpr bool kQInSmem = SPDC_ATTENTION_WGMMA && Cfg::kQInSmem;
      unsigned qa[kQInSmem ? 1 : D / 16][4];
      if constexpr (kQInSmem) {
#if SPDC_ATTENTION_WGMMA
        if constexpr (!Tma)
          fenceProxyAsync();
#endif
      } else {
#pragma unroll
        for (int ks = 0; ks < D / 16; ++ks)
          ldmatrixX4(qa[ks], smemAddr(sQ) + swizzledOffset<BM>(warp * 16 + (lane & 15),
                                                               2 * ks + (lane >> 4)));
        mbarArrive(qEmpty);
      }

      auto waitFull = [&](int which, unsigned tileIt) {
        mbarWait(fullBar(which, tileIt), (tileIt / S) & 1);
#if SPDC_ATTENTION_WGMMA
        if constexpr (!Tma)
          fenceProxyAsync(); // the copies wrote through the generic proxy; wgmma reads next
#endif
      };
      auto release = [&](int which, unsigned tileIt) { mbarArrive(emptyBar(which, tileIt)); };
      auto softmax = [&](float (&s)[NB][4], index_t j, float (&alpha)[2]) {
        return softmaxTileAt<Mod>(s, rowMax, rowSum, alpha, scaleLog2, row0, j * BN, t, wgRow,
                                  qLen, kvLen, causal, mask, maskBase, maskStrideQ, maskStrideK);
      };

#if SPDC_ATTENTION_WGMMA
      // Per warpgroup: S_j = Q K_j^T, then O += P_{j-1} V_{j-1} queued behind it; the softmax of
      // S_j runs while the tensor cores finish P_{j-1} V_{j-1}. Registers the tensor cores read
      // or write are fenced (wgmmaFenceRegs / fenceRegs) on both sides of each batch so that
      // the compiler moves no access to them into the batch.
      float s[NB][4];
      unsigned p[BN / 16][4];
      const unsigned qBase = smemAddr(sQ) + wg * 64 * 128;
      auto issueScores = [&](unsigned tileIt) {
        if constexpr (kQInSmem)
          wgmmaScores<T, D, BM, BN>(s, o, p, qBase, smemAddr(sK(tileIt % S)));
        else
          wgmmaScores<T, D, BN>(s, o, p, qa, smemAddr(sK(tileIt % S)));
      };
      auto issuePV = [&](unsigned tileIt) { wgmmaPV<T, BN>(o, p, smemAddr(sV(tileIt % S))); };
      float alpha[2];
      waitFull(0, it);
      issueScores(it);
      wgmmaWait<0>();
      wgmmaFenceRegs(s);
      release(0, it);
      if (kQInSmem && nTiles == 1)
        mbarArrive(qEmpty); // the item's last scores: Q's tile goes back to the producer
      softmax(s, 0, alpha); // O is still zero: nothing to rescale
      packProbabilities<T>(p, s);
      for (index_t j = 1; j < nTiles; ++j) {
        // Broadcast from lane 0, so that the compiler knows the stage counter to be
        // warp-uniform (it cannot see that through this loop) and computes the stage's barrier
        // addresses and wgmma descriptors in uniform registers: without it, every descriptor
        // (24 per tile) is computed per thread and moved to uniform registers for its wgmma.
        const unsigned cur = __shfl_sync(0xffffffffu, it + unsigned(j), 0);
        waitFull(0, cur);
        waitFull(1, cur - 1);
        issueScores(cur);
        issuePV(cur - 1);
        wgmmaWait<1>();
        wgmmaFenceRegs(s);
        release(0, cur);
        if (kQInSmem && j == nTiles - 1)
          mbarArrive(qEmpty); // as above, a softmax before the item ends
        const bool grew = softmax(s, j, alpha);
        wgmmaWait<0>();
        wgmmaFenceRegs(o);
        fenceRegs(p);
        release(1, cur - 1);
        if (SPDC_ATTENTION_RESCALE_SLACK < 0 || grew)
          rescaleRows(o, alpha);
        packProbabilities<T>(p, s);
      }
      const unsigned last = it + unsigned(nTiles) - 1;
      waitFull(1, last);
      wgmmaFenceRegs(o);
      fenceRegs(p);
      wgmmaFence();
      issuePV(last);
      wgmmaWait<0>();
      wgmmaFenceRegs(o);
      fenceRegs(p);
      release(1, last);
#else
      for (index_t j = 0; j < nTiles; ++j) {
        const unsigned cur = it + unsigned(j);
        waitFull(0, cur);
        float s[NB][4];
        mmaScores<T, D, BN>(s, qa, smemAddr(sK(cur % S)), lane);
        release(0, cur);
        float alpha[2];
        softmax(s, j, alpha);
        rescaleRows(o, alpha);
        unsigned p[BN / 16][4];
        packProbabilities<T>(p, s);
        waitFull(1, cur);
        mmaAccumulatePV<T, BN, DV>(o, p, smemAddr(sV(cur % S)), lane);
        release(1, cur);
      }
#endif
      it += unsigned(nTiles);
    }

    if constexpr (Cfg::kStageO)
      storeRowsStaged<T>(o, rowSum, wgRow, qLen, head.out, head.oRow,
                         smem + Cfg::kOOffset + wg * (Cfg::kOBytes / 2), kWgBar + wg, ctid & 127);
    else
      storeRows<T>(o, rowSum, row0, qLen, head.out, head.oRow, t);
  }
  }
}

// mma.sync needs sm_80; the host side of an nvcc build assumes it (the project targets sm_80+).
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define SPDC_KERNELS_HAS_MMA 1
#else
#define SPDC_KERNELS_HAS_MMA 0
#endif

// Which path, tile size and launch attention_fwd_kernel uses for these parameters (mirrored in
// lib/Codegen/CUDA/Codegen.cpp, Generator::emitAttention).
template <class T, int HeadDim, int HeadDimV> struct AttentionConfig {
  static constexpr bool kTensorCores = SPDC_KERNELS_HAS_MMA && IsHalfLike<T>::value;
  // 128-row path (cp.async pipeline; wgmma on sm_90a): head dims 64 and 128.
  static constexpr bool kUseFast = kTensorCores && HeadDim % 64 == 0 && HeadDimV % 64 == 0 &&
                                   HeadDim <= 128 && HeadDimV <= 128;
  // 64-row mma.sync path: the other multiples of 16 up to 128.
  static constexpr bool kUseMma = !kUseFast && kTensorCores && HeadDim % 16 == 0 &&
                                  HeadDimV % 16 == 0 && HeadDim <= 128 && HeadDimV <= 128;
  using Fast = AttentionFwdConfig<kUseFast ? HeadDim : 64, kUseFast ? HeadDimV : 64>;
  static constexpr int kBlockM = kUseFast  ? Fast::kBlockM
                                 : kUseMma ? AttentionMmaConfig<HeadDim, HeadDimV>::kBlockM
                                           : AttentionFmaConfig<HeadDim, HeadDimV>::kBlockM;
  static constexpr int kThreads = kUseFast ? Fast::kThreads : 128;
  // Dynamic shared memory per block (the other paths use static shared memory only).
  static constexpr int kSmemBytes = kUseFast ? Fast::kSmemBytes : 0;
};

// The kernels' parameter list; both kernels unpack the operand strides the same way.
#define SPDC_ATTENTION_FWD_PARAMS                                                             \
  const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,                 \
      const TMask *__restrict__ mask, T *__restrict__ out, int batch, int qHeads, int kvHeads, \
      long long qLen, long long kvLen, float scale, bool causal, long long maskStrideB,        \
      long long maskStrideH, long long maskStrideQ, long long maskStrideK, long long qStrideB, \
      long long qStrideH, long long qStrideS, long long kStrideB, long long kStrideH,          \
      long long kStrideS, long long vStrideB, long long vStrideH, long long vStrideS,          \
      long long oStrideB, long long oStrideH, long long oStrideS
#define SPDC_ATTENTION_STRIDES                                                                \
  {qStrideB, qStrideH, qStrideS, kStrideB, kStrideH, kStrideS,                               \
   vStrideB, vStrideH, vStrideS, oStrideB, oStrideH, oStrideS}

template <class T, class TMask, int HeadDim, int HeadDimV, class Mod = NoScoreMod>
__global__ void __launch_bounds__(AttentionConfig<T, HeadDim, HeadDimV>::kThreads)
    attention_fwd_kernel(SPDC_ATTENTION_FWD_PARAMS) {
  gridDependencySync();
  using Cfg = AttentionConfig<T, HeadDim, HeadDimV>;
  const AttentionStrides st = SPDC_ATTENTION_STRIDES;
  const index_t tiles = (qLen + Cfg::kBlockM - 1) / Cfg::kBlockM;
  for (index_t i = blockIdx.x; i < tiles; i += gridDim.x) {
    // Last tiles first: under causal masking they have the most keys, so the short ones fill
    // the tail of the grid.
    const index_t tile = tiles - 1 - i;
    if constexpr (Cfg::kUseFast) {
      extern __shared__ __align__(16) unsigned char attentionSmem[];
      unsigned char *smem = attentionSmem + ((1024u - (smemAddr(attentionSmem) & 1023u)) & 1023u);
      attentionTileFast<T, TMask, HeadDim, HeadDimV, Mod>(
          q, k, v, mask, out, tile, qHeads, kvHeads, qLen, kvLen, scale, causal, maskStrideB,
          maskStrideH, maskStrideQ, maskStrideK, st, smem);
    } else if constexpr (Cfg::kUseMma) {
      attentionTileMma<T, TMask, HeadDim, HeadDimV, Mod>(
          q, k, v, mask, out, tile, qHeads, kvHeads, qLen, kvLen, scale, causal, maskStrideB,
          maskStrideH, maskStrideQ, maskStrideK, st);
    } else {
      attentionTileFma<T, TMask, HeadDim, HeadDimV, Mod>(
          q, k, v, mask, out, tile, qHeads, kvHeads, qLen, kvLen, scale, causal, maskStrideB,
          maskStrideH, maskStrideQ, maskStrideK, st);
    }
  }
}

// The warp-specialized 128-row path (AttentionWsConfig): f16/bf16, head dims 64 and 128, key
// tiles of BlockN (64 or 128). Launch: any grid -- blocks take the (query tile, batch-head)
// pairs, ceil(qLen / 128) * batch * qHeads of them, from the module's work queue; one block per
// SM is the efficient one -- block (AttentionWsConfig::kThreads = 384, 1, 1), dynamic shared
// memory AttentionWsConfig::kSmemBytes. Launches of one module must not overlap (one stream):
// they share the queue.
template <class T, class TMask, int HeadDim, int HeadDimV, int BlockN, class Mod = NoScoreMod>
__global__ void __launch_bounds__(AttentionWsConfig<HeadDim, HeadDimV, BlockN>::kThreads, 1)
    attention_fwd_ws_kernel(SPDC_ATTENTION_FWD_PARAMS) {
  gridDependencySync();
  static_assert(IsHalfLike<T>::value, "the warp-specialized path takes f16 and bf16");
#if SPDC_KERNELS_HAS_MMA
  const AttentionStrides st = SPDC_ATTENTION_STRIDES;
  extern __shared__ __align__(16) unsigned char attentionSmem[];
  __shared__ AttentionBarriers<AttentionWsConfig<HeadDim, HeadDimV, BlockN>::kStages> bars;
  unsigned char *smem = attentionSmem + ((1024u - (smemAddr(attentionSmem) & 1023u)) & 1023u);
  attentionBlockWs<T, TMask, HeadDim, HeadDimV, BlockN, false, Mod>(
      q, k, v, mask, out, batch, qHeads, kvHeads, qLen, kvLen, scale, causal, maskStrideB,
      maskStrideH, maskStrideQ, maskStrideK, st, smem, bars, nullptr);
#endif
}

// The same with tensor copies (sm_90a): one producer thread issues a tensor copy per 64-column
// panel of each Q, K and V tile. qMap, kMap and vMap are 4-d tensor maps over q, k and v:
// dims (head dim, rows, heads, batch) with the strides above in bytes, boxes (64, 128) for Q
// and (64, BlockN) for K and V, 128-byte swizzle (the host encodes them; the kernel reads the
// pointers and strides only for the output and the mask).
template <class T, class TMask, int HeadDim, int HeadDimV, int BlockN, class Mod = NoScoreMod>
__global__ void __launch_bounds__(AttentionWsConfig<HeadDim, HeadDimV, BlockN>::kThreads, 1)
    attention_fwd_ws_tma_kernel(SPDC_ATTENTION_FWD_PARAMS, const __grid_constant__ TmaDescriptor qMap,
                                const __grid_constant__ TmaDescriptor kMap,
                                const __grid_constant__ TmaDescriptor vMap) {
  gridDependencySync();
  static_assert(IsHalfLike<T>::value, "the warp-specialized path takes f16 and bf16");
#if SPDC_ATTENTION_WGMMA
  const AttentionStrides st = SPDC_ATTENTION_STRIDES;
  extern __shared__ __align__(16) unsigned char attentionSmem[];
  __shared__ AttentionBarriers<AttentionWsConfig<HeadDim, HeadDimV, BlockN>::kStages> bars;
  unsigned char *smem = attentionSmem + ((1024u - (smemAddr(attentionSmem) & 1023u)) & 1023u);
  // The maps stay in parameter space: the copies take their generic addresses.
  const TmaDescriptor *maps[3] = {&qMap, &kMap, &vMap};
  attentionBlockWs<T, TMask, HeadDim, HeadDimV, BlockN, true, Mod>(
      q, k, v, mask, out, batch, qHeads, kvHeads, qLen, kvLen, scale, causal, maskStrideB,
      maskStrideH, maskStrideQ, maskStrideK, st, smem, bars, maps);
#endif
}
#undef SPDC_ATTENTION_STRIDES
#undef SPDC_ATTENTION_FWD_PARAMS

// Decode: one block per query row; warp w takes key chunks w, w + kWarps, ... of 32 keys, one
// key per lane for the scores (each lane reads its key's row with 16-byte loads), then the
// whole warp accumulates P V with lanes over output dims. Warps merge their (max, sum, acc) at
// the end.
struct AttentionDecodeConfig {
  static constexpr int kWarps = 8;
  static constexpr int kThreads = kWarps * 32;
};

template <class T, class TMask, int HeadDim, int HeadDimV, class Mod = NoScoreMod>
__global__ void __launch_bounds__(256)
    attention_decode_kernel(const T *__restrict__ q, const T *__restrict__ k,
                            const T *__restrict__ v, const TMask *__restrict__ mask,
                            T *__restrict__ out, int batch, int qHeads, int kvHeads,
                            long long qLen, long long kvLen, float scale, bool causal,
                            long long maskStrideB, long long maskStrideH,
                            long long maskStrideQ, long long maskStrideK) {
  gridDependencySync();
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
    const float sc = attentionScore<Mod>(dot, scale, row, key, qLen, kvLen, causal, mask,
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
