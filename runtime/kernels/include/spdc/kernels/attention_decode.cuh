//===- attention_decode.cuh - Split-KV attention for a few query rows ----===//
//
// Decode attention (qLen of 1 to a few tokens) at memory bandwidth, flash-decoding style: the
// key/value sequence is cut into chunks, one block per (chunk, batch, kv head, row tile), so
// that the whole GPU streams K and V even when batch * kvHeads is small. A block serves every
// query row of its GQA group (qHeads / kvHeads heads times qLen rows, `Rows` at a time), so K
// and V are read from memory once per kv head rather than once per query head. Each block keeps
// an f32 online softmax over its chunk and writes a partial output normalized by its own sum
// plus the log-sum-exp; a small second kernel merges the chunks. With a single chunk the first
// kernel writes the output itself and the second is not launched.
//
// Same layouts and semantics as attention.cuh (spd.attention):
//   q [batch, qHeads, qLen, HeadDim], k [batch, kvHeads, kvLen, HeadDim],
//   v [batch, kvHeads, kvLen, HeadDimV], out [batch, qHeads, qLen, HeadDimV], contiguous;
//   mask (nullptr = none) element (b, h, i, j) at b*maskStrideB + h*maskStrideH + i*maskStrideQ
//   + j*maskStrideK (stride 0 = broadcast); TMask bool / (un)signed char = keep-mask, any other
//   TMask is added to the scaled scores; causal: query i sees key j iff j <= i + kvLen - qLen;
//   GQA: query head h reads kv head h / (qHeads / kvHeads); a row that sees no key gives zeros.
//
// Kernels (namespace spdc::kernels):
//   template <class T, class TMask, int HeadDim, int HeadDimV, int Rows, int KeysPerGroup = 0,
//             bool Prefetch = true>
//   __global__ void attention_decode_split_kernel(const T *q, const T *k, const T *v,
//       const TMask *mask, T *out, float *oPart, float *lsePart, int batch, int qHeads,
//       int kvHeads, long long qLen, long long kvLen, long long chunkKeys, float scale,
//       bool causal, long long maskStrideB, long long maskStrideH, long long maskStrideQ,
//       long long maskStrideK);
//     T float / __half / __nv_bfloat16; HeadDim, HeadDimV 1..256; Rows 1, 2, 4 or 8 with
//     Rows * ceil(max(HeadDim, HeadDimV) / 16) <= 64 (AttentionDecodeSplitConfig::rowsFor picks it);
//     KeysPerGroup: keys each 16-lane group loads per step (0: 4, or 2 for many rows);
//     Prefetch: the next step's K/V loads issue before this step's arithmetic.
//     Launch: grid (chunks, batch * kvHeads, rowTiles) with chunks = ceil(kvLen / chunkKeys)
//     and rowTiles = ceil((qHeads / kvHeads) * qLen / Rows); block (kThreads = 128, 1, 1);
//     dynamic shared memory 0 (static, <= 16 KiB).
//     oPart == nullptr: chunks must be 1 and the kernel writes `out`. Otherwise it writes, per
//     chunk c and output row r = (b * qHeads + h) * qLen + i (rows = batch * qHeads * qLen),
//     oPart[(c * rows + r) * HeadDimV + d] (f32, normalized within the chunk) and
//     lsePart[c * rows + r] (base-2 log-sum-exp of the chunk's scaled scores, -inf when the
//     chunk has no visible key); `out` is not touched.
//
//   template <class T>
//   __global__ void attention_decode_combine_kernel(const float *oPart, const float *lsePart,
//       T *out, long long rows, int chunks, int headDimV);
//     Launch: grid (min(rows, 65535), 1, 1) (blocks loop over rows), block (kCombineThreads =
//     128, 1, 1), dynamic shared memory 0; chunks <= kMaxChunks.
//
// The launch numbers (kThreads, kCombineThreads, chunkKeysFor, rowsFor) are mirrored by
// lib/Codegen/CUDA/Codegen.cpp (emitAttentionDecode), which includes no CUDA header: change
// both together.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "spdc/kernels/common.cuh"

namespace spdc {
namespace kernels {

struct AttentionDecodeSplitConfig {
  static constexpr int kThreads = 128;
  static constexpr int kWarps = kThreads / 32;
  // Lanes sharing one key: half a warp, so the dot-product reduction is 4 shuffles and a warp
  // reads two consecutive key rows per load instruction.
  static constexpr int kLanesPerKey = 16;
  static constexpr int kGroups = kThreads / kLanesPerKey;
  static constexpr int kCombineThreads = 128;
  static constexpr int kMaxChunks = 256;
  static constexpr int kMaxRows = 8;
  // Blocks to aim for: about two waves of four resident 128-thread blocks on 132 SMs (H100),
  // so the tail of the last wave is short; chunks shorter than kMinChunkKeys spend more time
  // on their prologue and merge than on streaming.
  static constexpr long long kTargetBlocks = 1024;
  static constexpr long long kMinChunkKeys = 256;
  static constexpr long long kChunkAlign = 64;

  // Elements of a head dim each lane of a key group holds.
  __host__ __device__ static constexpr int elemsPerLane(int headDim) { return (headDim + kLanesPerKey - 1) / kLanesPerKey; }
  // Query rows per block for `rows` = (qHeads / kvHeads) * qLen: the next power of two, capped so
  // that the q slices and accumulators stay in registers.
  __host__ __device__ static constexpr int rowsFor(long long rows, int headDim, int headDimV) {
    const int e = elemsPerLane(headDim > headDimV ? headDim : headDimV);
    int r = 1;
    while (r < rows && r < kMaxRows && (2 * r) * e <= 64)
      r *= 2;
    return r;
  }
  // Keys per chunk for kvLen keys and `slices` = batch * kvHeads * rowTiles blocks per chunk.
  __host__ __device__ static constexpr long long chunkKeysFor(long long kvLen, long long slices) {
    long long want = (kTargetBlocks + slices - 1) / slices;
    const long long most = (kvLen + kMinChunkKeys - 1) / kMinChunkKeys;
    want = want < most ? want : most;
    want = want < kMaxChunks ? want : kMaxChunks;
    want = want > 1 ? want : 1;
    long long keys = (kvLen + want - 1) / want;
    keys = (keys + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
    return keys > 0 ? keys : kChunkAlign;
  }
};

namespace decode {

constexpr float kLog2e = 1.4426950408889634f;

// One lane's slice of a row: E consecutive elements.
template <class T, int E> struct __align__(16) Slice { T v[E]; };

// Widest piece (bytes) in which a slice of E elements of T can be loaded when the head dim is
// exactly 16 * E (every lane's slice then starts at a multiple of its own size); 0 = scalar.
template <class T, int E> constexpr int kPiece = (E * sizeof(T)) % 16 == 0   ? 16
                                                 : (E * sizeof(T)) % 8 == 0 ? 8
                                                 : (E * sizeof(T)) % 4 == 0 ? 4
                                                                              : 0;

// Loads elements [first, first + E) of `row` (len elements); vec: the pieces are aligned and
// in range. K and V are read once: streaming loads keep them from displacing reused lines.
template <class T, int E>
__device__ __forceinline__ void loadSlice(Slice<T, E> &s, const T *row, int first, int len,
                                          bool vec) {
  constexpr int P = kPiece<T, E>;
  if constexpr (P == 16) {
    if (vec) {
#pragma unroll
      for (int i = 0; i < int(E * sizeof(T)) / 16; ++i)
        reinterpret_cast<uint4 *>(s.v)[i] = __ldcs(reinterpret_cast<const uint4 *>(row + first) + i);
      return;
    }
  } else if constexpr (P == 8) {
    if (vec) {
#pragma unroll
      for (int i = 0; i < int(E * sizeof(T)) / 8; ++i)
        reinterpret_cast<uint2 *>(s.v)[i] = __ldcs(reinterpret_cast<const uint2 *>(row + first) + i);
      return;
    }
  } else if constexpr (P == 4) {
    if (vec) {
#pragma unroll
      for (int i = 0; i < int(E * sizeof(T)) / 4; ++i)
        reinterpret_cast<unsigned *>(s.v)[i] =
            __ldcs(reinterpret_cast<const unsigned *>(row + first) + i);
      return;
    }
  }
#pragma unroll
  for (int e = 0; e < E; ++e)
    s.v[e] = first + e < len ? row[first + e] : fromFloat<T>(0.0f);
}

template <class T, int E> __device__ __forceinline__ void zeroSlice(Slice<T, E> &s) {
#pragma unroll
  for (int e = 0; e < E; ++e)
    s.v[e] = fromFloat<T>(0.0f);
}

} // namespace decode

template <class T, class TMask, int HeadDim, int HeadDimV, int Rows, int KeysPerGroup = 0,
          bool Prefetch = true>
__global__ void __launch_bounds__(AttentionDecodeSplitConfig::kThreads)
    attention_decode_split_kernel(const T *__restrict__ q, const T *__restrict__ k,
                                  const T *__restrict__ v, const TMask *__restrict__ mask,
                                  T *__restrict__ out, float *__restrict__ oPart,
                                  float *__restrict__ lsePart, int batch, int qHeads,
                                  int kvHeads, long long qLen, long long kvLen,
                                  long long chunkKeys, float scale, bool causal,
                                  long long maskStrideB, long long maskStrideH,
                                  long long maskStrideQ, long long maskStrideK) {
  using Cfg = AttentionDecodeSplitConfig;
  constexpr int D = HeadDim, DV = HeadDimV, L = Cfg::kLanesPerKey, G = Cfg::kGroups,
                W = Cfg::kWarps;
  constexpr int E = Cfg::elemsPerLane(D), EV = Cfg::elemsPerLane(DV);
  constexpr int EMAX = E > EV ? E : EV;
  static_assert(D >= 1 && D <= 256 && DV >= 1 && DV <= 256, "head dims 1..256");
  static_assert(Rows == 1 || Rows == 2 || Rows == 4 || Rows == 8, "Rows 1, 2, 4 or 8");
  static_assert(Rows * EMAX <= 64, "q slices and accumulators must stay in registers");
  // Keys per group per step (KeysPerGroup, 0 = this default): four loads of each of K and V in
  // flight per lane, two when the rows' registers are many.
  constexpr int NK = KeysPerGroup > 0 ? KeysPerGroup : (Rows * EMAX > 32 ? 2 : 4);
  // Double buffering costs 2 * NK slices of registers: not where the rows already take many.
  constexpr bool kPrefetch = Prefetch && Rows * EMAX <= 32;
  constexpr bool kVecK = D == L * E && decode::kPiece<T, E> > 0;
  constexpr bool kVecV = DV == L * EV && decode::kPiece<T, EV> > 0;
  const float ninf = -NumericLimits<float>::infinity();

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int sub = lane & (L - 1), group = tid / L;
  const int bkv = blockIdx.y, b = bkv / kvHeads, kvh = bkv % kvHeads;
  const int headsPerKv = qHeads / kvHeads;
  const index_t groupRows = index_t(headsPerKv) * qLen;
  const index_t row0 = index_t(blockIdx.z) * Rows;
  const index_t outRows = index_t(batch) * qHeads * qLen;

  // This block's query rows: row r is (head kvh * headsPerKv + t / qLen, query t % qLen) for
  // t = row0 + r. q is pre-scaled by scale * log2(e): the softmax runs in base 2.
  int head[Rows];
  index_t qi[Rows];
  bool valid[Rows];
  float qr[Rows][E];
  index_t lastQuery = -1;
  const float qScale = scale * decode::kLog2e;
#pragma unroll
  for (int r = 0; r < Rows; ++r) {
    const index_t t = row0 + r;
    valid[r] = t < groupRows;
    head[r] = valid[r] ? kvh * headsPerKv + int(t / qLen) : 0;
    qi[r] = valid[r] ? t % qLen : 0;
    if (valid[r] && qi[r] > lastQuery)
      lastQuery = qi[r];
    const T *qrow = q + ((index_t(b) * qHeads + head[r]) * qLen + qi[r]) * D;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const int d = sub * E + e;
      qr[r][e] = (valid[r] && d < D) ? toFloat(qrow[d]) * qScale : 0.0f;
    }
  }

  // Keys of this chunk, cut at the last key the latest row may see under causal.
  const index_t kBeg = index_t(blockIdx.x) * chunkKeys;
  index_t kEnd = kBeg + chunkKeys < kvLen ? kBeg + chunkKeys : kvLen;
  if (causal) {
    const index_t limit = lastQuery + kvLen - qLen + 1;
    kEnd = limit < kEnd ? limit : kEnd;
  }
  const index_t kvOff = index_t(b) * kvHeads + kvh;
  const T *kb = k + kvOff * kvLen * D;
  const T *vb = v + kvOff * kvLen * DV;
  const bool vecK = kVecK && isAligned(kb, decode::kPiece<T, E> > 0 ? decode::kPiece<T, E> : 1);
  const bool vecV = kVecV && isAligned(vb, decode::kPiece<T, EV> > 0 ? decode::kPiece<T, EV> : 1);
  index_t maskRow[Rows];
#pragma unroll
  for (int r = 0; r < Rows; ++r)
    maskRow[r] = index_t(b) * maskStrideB + index_t(head[r]) * maskStrideH + qi[r] * maskStrideQ;

  float m[Rows], l[Rows], acc[Rows][EV];
#pragma unroll
  for (int r = 0; r < Rows; ++r) {
    m[r] = ninf;
    l[r] = 0.0f;
#pragma unroll
    for (int e = 0; e < EV; ++e)
      acc[r][e] = 0.0f;
  }

  // A step's loads all issue before its first use: 2 * NK independent loads per lane in flight;
  // with Prefetch the next step's loads issue before this step's arithmetic (registers double
  // buffered), so the memory system stays busy while the warp computes.
  decode::Slice<T, E> ks[NK];
  decode::Slice<T, EV> vs[NK];
  auto loadStep = [&](index_t base, decode::Slice<T, E>(&kd)[NK],
                      decode::Slice<T, EV>(&vd)[NK]) {
#pragma unroll
    for (int n = 0; n < NK; ++n) {
      const index_t key = base + n * G + group;
      if (key < kEnd) {
        decode::loadSlice(kd[n], kb + key * D, sub * E, D, vecK);
        decode::loadSlice(vd[n], vb + key * DV, sub * EV, DV, vecV);
      } else {
        decode::zeroSlice(kd[n]);
        decode::zeroSlice(vd[n]);
      }
    }
  };
  if (kPrefetch && kBeg < kEnd)
    loadStep(kBeg, ks, vs);
  for (index_t base = kBeg; base < kEnd; base += G * NK) {
    decode::Slice<T, E> kn[NK];
    decode::Slice<T, EV> vn[NK];
    if constexpr (kPrefetch) {
      if (base + G * NK < kEnd)
        loadStep(base + G * NK, kn, vn);
    } else {
      loadStep(base, ks, vs);
    }
    float s[Rows][NK];
#pragma unroll
    for (int n = 0; n < NK; ++n) {
      float kf[E];
#pragma unroll
      for (int e = 0; e < E; ++e)
        kf[e] = toFloat(ks[n].v[e]);
#pragma unroll
      for (int r = 0; r < Rows; ++r) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < E; ++e)
          dot = fmaf(qr[r][e], kf[e], dot);
        s[r][n] = dot;
      }
    }
    // Sum over the key group's 16 lanes; every lane of the group gets the score.
#pragma unroll
    for (int o = L / 2; o > 0; o >>= 1)
#pragma unroll
      for (int n = 0; n < NK; ++n)
#pragma unroll
        for (int r = 0; r < Rows; ++r)
          s[r][n] += __shfl_xor_sync(0xffffffffu, s[r][n], o);
#pragma unroll
    for (int n = 0; n < NK; ++n) {
      const index_t key = base + n * G + group;
#pragma unroll
      for (int r = 0; r < Rows; ++r) {
        const bool seen = valid[r] && key < kEnd && !(causal && key > qi[r] + kvLen - qLen);
        float sc = s[r][n];
        if (seen && mask) {
          const TMask mv = mask[maskRow[r] + key * maskStrideK];
          if constexpr (IsKeepMask<TMask>::value)
            sc = mv ? sc : ninf;
          else
            sc += toFloat(mv) * decode::kLog2e;
        }
        s[r][n] = seen ? sc : ninf;
      }
    }
#pragma unroll
    for (int r = 0; r < Rows; ++r) {
      float mNew = m[r];
#pragma unroll
      for (int n = 0; n < NK; ++n)
        mNew = s[r][n] > mNew ? s[r][n] : mNew;
      if (mNew == ninf)
        continue; // nothing visible yet: state unchanged
      const float alpha = exp2f(m[r] - mNew);
      float p[NK], psum = 0.0f;
#pragma unroll
      for (int n = 0; n < NK; ++n) {
        p[n] = exp2f(s[r][n] - mNew);
        psum += p[n];
      }
      l[r] = l[r] * alpha + psum;
      m[r] = mNew;
#pragma unroll
      for (int e = 0; e < EV; ++e) {
        float a = acc[r][e] * alpha;
#pragma unroll
        for (int n = 0; n < NK; ++n)
          a = fmaf(p[n], toFloat(vs[n].v[e]), a);
        acc[r][e] = a;
      }
    }
    if constexpr (kPrefetch) {
#pragma unroll
      for (int n = 0; n < NK; ++n) {
        ks[n] = kn[n];
        vs[n] = vn[n];
      }
    }
  }

  // Merge the two key groups of each warp (lanes l and l + 16 hold the same output slice).
#pragma unroll
  for (int r = 0; r < Rows; ++r) {
    const float mo = __shfl_xor_sync(0xffffffffu, m[r], 16);
    const float lo = __shfl_xor_sync(0xffffffffu, l[r], 16);
    const float mm = m[r] > mo ? m[r] : mo;
    const float fa = m[r] == ninf ? 0.0f : exp2f(m[r] - mm);
    const float fb = mo == ninf ? 0.0f : exp2f(mo - mm);
    l[r] = l[r] * fa + lo * fb;
    m[r] = mm;
#pragma unroll
    for (int e = 0; e < EV; ++e)
      acc[r][e] = acc[r][e] * fa + __shfl_xor_sync(0xffffffffu, acc[r][e], 16) * fb;
  }
  // Then the warps, through shared memory.
  __shared__ float sM[W][Rows], sL[W][Rows];
  __shared__ float sAcc[W][Rows][L * EV];
  if (lane < L) {
#pragma unroll
    for (int r = 0; r < Rows; ++r) {
      if (lane == 0) {
        sM[warp][r] = m[r];
        sL[warp][r] = l[r];
      }
#pragma unroll
      for (int e = 0; e < EV; ++e)
        sAcc[warp][r][lane * EV + e] = acc[r][e];
    }
  }
  __syncthreads();
  const index_t chunk = blockIdx.x;
  for (int idx = tid; idx < Rows * DV; idx += Cfg::kThreads) {
    const int r = idx / DV, d = idx % DV;
    const index_t t = row0 + r;
    if (t >= groupRows)
      continue;
    const int h = kvh * headsPerKv + int(t / qLen);
    const index_t outRow = (index_t(b) * qHeads + h) * qLen + t % qLen;
    float mm = sM[0][r];
#pragma unroll
    for (int w = 1; w < W; ++w)
      mm = sM[w][r] > mm ? sM[w][r] : mm;
    float sum = 0.0f, o = 0.0f;
#pragma unroll
    for (int w = 0; w < W; ++w) {
      const float f = sM[w][r] == ninf ? 0.0f : exp2f(sM[w][r] - mm);
      sum += sL[w][r] * f;
      o += sAcc[w][r][d] * f;
    }
    const float val = sum > 0.0f ? o / sum : 0.0f;
    if (oPart) {
      oPart[(chunk * outRows + outRow) * DV + d] = val;
      if (d == 0)
        lsePart[chunk * outRows + outRow] = sum > 0.0f ? mm + log2f(sum) : ninf;
    } else {
      out[outRow * DV + d] = fromFloat<T>(val);
    }
  }
}

template <class T>
__global__ void __launch_bounds__(AttentionDecodeSplitConfig::kCombineThreads)
    attention_decode_combine_kernel(const float *__restrict__ oPart,
                                    const float *__restrict__ lsePart, T *__restrict__ out,
                                    long long rows, int chunks, int headDimV) {
  __shared__ float sW[AttentionDecodeSplitConfig::kMaxChunks];
  const float ninf = -NumericLimits<float>::infinity();
  for (index_t row = blockIdx.x; row < rows; row += gridDim.x) {
    float mx = ninf;
    for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
      const float x = lsePart[c * rows + row];
      mx = x > mx ? x : mx;
    }
    mx = blockReduceMax(mx);
    float sum = 0.0f;
    for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
      const float x = lsePart[c * rows + row];
      const float w = x == ninf ? 0.0f : exp2f(x - mx);
      sW[c] = w;
      sum += w;
    }
    sum = blockReduceSum(sum); // its barriers publish sW
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int d = threadIdx.x; d < headDimV; d += blockDim.x) {
      float o = 0.0f;
      for (int c = 0; c < chunks; ++c)
        o = fmaf(sW[c], oPart[(c * rows + row) * headDimV + d], o);
      out[row * headDimV + d] = fromFloat<T>(o * inv);
    }
    __syncthreads(); // sW is rewritten for the next row
  }
}

} // namespace kernels
} // namespace spdc
