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
//             bool Prefetch = true, class Mod = NoScoreMod>
//   __global__ void attention_decode_split_kernel(const T *q, const T *k, const T *v,
//       const TMask *mask, T *out, float *oPart, float *lsePart, int batch, int qHeads,
//       int kvHeads, long long qLen, long long kvLen, long long chunkKeys, float scale,
//       bool causal, long long maskStrideB, long long maskStrideH, long long maskStrideQ,
//       long long maskStrideK);
//     T float / __half / __nv_bfloat16; HeadDim, HeadDimV 1..256; Rows 1, 2, 4 or 8 with
//     Rows * ceil(max(HeadDim, HeadDimV) / 16) <= 64 (AttentionDecodeSplitConfig::rowsFor picks it);
//     KeysPerGroup: keys each 16-lane group loads per step (0: 4, or 2 for many rows);
//     Prefetch: the next step's K/V loads issue before this step's arithmetic.
//     Mod: what is done to the scaled scores before the mask (common.cuh: NoScoreMod, or
//     SoftCap<bits of the cap>, Gemma 2's cap * tanh(s / cap)).
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
//   template <class T, class TMask, int HeadDim, int HeadDimV, bool ClusterMerge = false>
//   __global__ void attention_decode_mma_kernel(... same parameters as the split kernel ...);
//     The tensor-core split kernel: T __half / __nv_bfloat16, HeadDim and HeadDimV 64 or 128,
//     sm_80+. Same parameters and outputs (out, or oPart / lsePart per chunk, merged by the
//     combine kernel). ClusterMerge (sm_90): the launch makes the chunks of each (batch * kv
//     head, row tile) one thread block cluster (cluster dims (chunks, 1, 1), chunks <=
//     kMaxClusterChunks); the blocks merge their chunks through distributed shared memory and
//     write `out`, oPart and lsePart are not touched and no combine kernel is launched. Bulk
//     (after ClusterMerge and the defaulted Stages, L2Prefetch, Coalesced; false by default;
//     Coalesced only): on sm_90 one lane of each warp fills its ring stages with one bulk copy
//     of the step's K rows and one of its V rows (mbarrier completion), into unswizzled stages;
//     other GPUs and operands not 16-byte aligned take cp.async all the same. EvictFirst (last,
//     AttentionDecodeMmaConfig::kEvictFirst by default): the copies carry L2's evict-first
//     policy. Mod (last, after EvictFirst) as for the split kernel.
//     Launch: grid (chunks, batch * kvHeads, rowTiles) with rowTiles = ceil((qHeads / kvHeads)
//     * qLen / 16) and chunks from AttentionDecodeMmaConfig::chunkKeysFor; block (kThreads =
//     128, 1, 1); dynamic shared memory AttentionDecodeMmaConfig::smemBytes(HeadDim, HeadDimV)
//     (96 KiB at 128/128, under the 99 KiB every sm_80+ GPU allows).
//
// The launch numbers (kThreads, kCombineThreads, chunkKeysFor, rowsFor, kMaxClusterChunks) are
// mirrored by lib/Codegen/CUDA/Codegen.cpp (emitAttentionDecode), which includes no CUDA
// header: change both together.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "spdc/kernels/common.cuh"
#include "spdc/kernels/mma.cuh"

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
  // Keys per chunk for kvLen keys cut into about `want` chunks: at most kMaxChunks chunks of at
  // least kMinChunkKeys keys, a multiple of kChunkAlign.
  __host__ __device__ static constexpr long long keysForChunks(long long kvLen, long long want) {
    const long long most = (kvLen + kMinChunkKeys - 1) / kMinChunkKeys;
    want = want < most ? want : most;
    want = want < kMaxChunks ? want : kMaxChunks;
    want = want > 1 ? want : 1;
    long long keys = (kvLen + want - 1) / want;
    keys = (keys + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
    return keys > 0 ? keys : kChunkAlign;
  }
  // Keys per chunk for kvLen keys and `slices` = batch * kvHeads * rowTiles blocks per chunk.
  __host__ __device__ static constexpr long long chunkKeysFor(long long kvLen, long long slices) {
    return keysForChunks(kvLen, (kTargetBlocks + slices - 1) / slices);
  }
};


// The tensor-core split kernel (attention_decode_mma_kernel). The query rows of a GQA group
// (padded to 16) are the A operand of mma.sync m16n8k16; each warp streams its own 16-key steps
// of K and V through a private cp.async ring, so no barrier is needed until the final merge.
struct AttentionDecodeMmaConfig {
  static constexpr int kWarps = 4;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kRows = 16;  // query rows per block: one m16 tile
  static constexpr int kKeys = 16;  // keys per warp step
  static constexpr int kStages = 3; // per-warp ring depth: two steps in flight while one computes
  // Copies: 512 contiguous bytes per warp instruction with a 256-byte L2 prefetch hint and L2's
  // evict-first policy (K and V are read once). On the H100 (bench/notes/decode.md) per-lane
  // copies of each lane's own fragments ran at 2.1 TB/s, these at 2.5 TB/s without the policy
  // and 2.7 TB/s with it and one block per SM. (Four stages measured 2.6 TB/s but take 128 KiB
  // of shared memory, more than the 99 KiB sm_86/sm_89 give one block; bulk copies, Bulk,
  // measured slower than cp.async.)
  static constexpr int kL2Prefetch = 256;
  static constexpr bool kCoalesced = true;
  static constexpr bool kEvictFirst = true;
  // SMs to fill: chunks are sized so that one block per SM covers an H100's 132.
  static constexpr long long kSms = 132;
  // Most chunks the cluster merge (ClusterMerge) takes: the portable cluster size.
  static constexpr long long kMaxClusterChunks = 8;

  __host__ __device__ static constexpr bool supports(int headDim, int headDimV) {
    return (headDim == 64 || headDim == 128) && (headDimV == 64 || headDimV == 128);
  }
  __host__ __device__ static constexpr int stageBytes(int headDim, int headDimV) {
    return kKeys * (headDim + headDimV) * 2;
  }
  __host__ __device__ static constexpr int smemBytes(int headDim, int headDimV,
                                                     int stages = kStages) {
    return kWarps * stages * stageBytes(headDim, headDimV);
  }
  // Keys per chunk for kvLen keys and `slices` = batch * kvHeads * rowTiles blocks per chunk:
  // as many chunks as give one block per SM, chunk lengths as
  // AttentionDecodeSplitConfig::keysForChunks. On the H100's b8 kv8 s8192 d128 row, 128
  // blocks of 4096 keys took 0.0996 ms where 256 blocks of 2048 (two per SM, the one wave
  // that fits) took 0.1050 (bench/notes/decode.md); a partial second wave would double the
  // time of the blocks in it.
  __host__ __device__ static constexpr long long chunkKeysFor(long long kvLen, long long slices) {
    return AttentionDecodeSplitConfig::keysForChunks(kvLen, kSms / slices);
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

// End of the keys of the chunk starting at kBeg, cut under causal at the last key the latest
// query row of the block (lastQuery) may see.
__device__ __forceinline__ index_t chunkEnd(index_t kBeg, index_t chunkKeys, index_t kvLen,
                                            index_t qLen, bool causal, index_t lastQuery) {
  index_t kEnd = kBeg + chunkKeys < kvLen ? kBeg + chunkKeys : kvLen;
  if (causal) {
    const index_t limit = lastQuery + kvLen - qLen + 1;
    kEnd = limit < kEnd ? limit : kEnd;
  }
  return kEnd;
}

// A base-2 score as the softmax sees it: -inf where the key is not seen, else masked by the
// keep-mask (bool / char: -inf where false) or with the additive mask added (scaled to base 2),
// the mask read at maskRow + key * maskStrideK. The mask's offset is computed only where a mask
// is read, and the result is a select: an earlier form (the offset computed by the caller, an
// early return) cost the CUDA-core kernel 9 % on the H100 decode benchmark (0.163 -> 0.179 ms).
template <class Mod, class TMask>
__device__ __forceinline__ float maskedScore(float x, bool seen, const TMask *mask,
                                             index_t maskRow, index_t key, index_t maskStrideK) {
  const float ninf = -NumericLimits<float>::infinity();
  x = Mod::apply(x, kLog2e);
  if (seen && mask) {
    const TMask mv = mask[maskRow + key * maskStrideK];
    if constexpr (IsKeepMask<TMask>::value)
      x = mv ? x : ninf;
    else
      x += toFloat(mv) * kLog2e;
  }
  return seen ? x : ninf;
}

} // namespace decode

template <class T, class TMask, int HeadDim, int HeadDimV, int Rows, int KeysPerGroup = 0,
          bool Prefetch = true, class Mod = NoScoreMod>
__global__ void __launch_bounds__(AttentionDecodeSplitConfig::kThreads)
    attention_decode_split_kernel(const T *__restrict__ q, const T *__restrict__ k,
                                  const T *__restrict__ v, const TMask *__restrict__ mask,
                                  T *__restrict__ out, float *__restrict__ oPart,
                                  float *__restrict__ lsePart, int batch, int qHeads,
                                  int kvHeads, long long qLen, long long kvLen,
                                  long long chunkKeys, float scale, bool causal,
                                  long long maskStrideB, long long maskStrideH,
                                  long long maskStrideQ, long long maskStrideK) {
  gridDependencySync();
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

  const index_t kBeg = index_t(blockIdx.x) * chunkKeys;
  const index_t kEnd = decode::chunkEnd(kBeg, chunkKeys, kvLen, qLen, causal, lastQuery);
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
        s[r][n] = decode::maskedScore<Mod>(s[r][n], seen, mask, maskRow[r], key, maskStrideK);
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

// Query rows of a block: row r of the tile is group row t = row0 + r, i.e. query head
// kvh * headsPerKv + t / qLen at position t % qLen.
struct DecodeRow {
  bool valid;
  int head;
  index_t qi;
};
__device__ __forceinline__ DecodeRow decodeRow(index_t t, index_t groupRows, int kvh,
                                               int headsPerKv, index_t qLen) {
  DecodeRow r;
  r.valid = t < groupRows;
  r.head = r.valid ? kvh * headsPerKv + int(t / qLen) : 0;
  r.qi = r.valid ? t % qLen : 0;
  return r;
}

namespace decode {
// ClusterMerge (sm_90): the blocks of a cluster are the chunks of one (batch, kv head, row
// tile), and each holds its chunk's rows in shared memory (sChunk f32 [Rows][DV], normalized
// within the chunk, and sLse, their base-2 log-sum-exps). After the cluster's barrier, block
// `rank` merges every chunks-th group of four elements from its rank on, reading the other
// blocks' shared memory, and writes `out`; a second barrier keeps each block's shared memory
// alive until the others have read it. No partials go through global memory and no second
// kernel runs.
template <class T, int DV, int Rows, int Threads>
__device__ __forceinline__ void mergeCluster(const float *sChunk, const float *sLse, T *out,
                                             index_t row0, index_t groupRows, int kvh,
                                             int headsPerKv, index_t qLen, int b, int qHeads,
                                             int tid) {
  static_assert(DV % 4 == 0, "four elements at a time");
  const float ninf = -NumericLimits<float>::infinity();
  clusterSync();
  const unsigned chunks = clusterBlocks(), rank = clusterRank();
  for (int quad = int(rank) * Threads + tid; quad < Rows * DV / 4;
       quad += int(chunks) * Threads) {
    const int r = quad * 4 / DV, d = quad * 4 % DV;
    const DecodeRow x = decodeRow(row0 + r, groupRows, kvh, headsPerKv, qLen);
    if (!x.valid)
      continue;
    float mx = ninf;
    for (unsigned c = 0; c < chunks; ++c)
      mx = fmaxf(mx, loadClusterShared(sLse + r, c));
    float sum = 0.0f, o[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (unsigned c = 0; c < chunks; ++c) {
      const float lse = loadClusterShared(sLse + r, c);
      const float w = lse == ninf ? 0.0f : exp2f(lse - mx);
      const float4 val = loadClusterShared4(sChunk + r * DV + d, c);
      sum += w;
      o[0] = fmaf(w, val.x, o[0]);
      o[1] = fmaf(w, val.y, o[1]);
      o[2] = fmaf(w, val.z, o[2]);
      o[3] = fmaf(w, val.w, o[3]);
    }
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    T *dst = out + ((index_t(b) * qHeads + x.head) * qLen + x.qi) * DV + d;
#pragma unroll
    for (int e = 0; e < 4; ++e)
      dst[e] = fromFloat<T>(o[e] * inv);
  }
  clusterSync();
}
} // namespace decode

template <class T, class TMask, int HeadDim, int HeadDimV, bool ClusterMerge = false,
          int Stages = AttentionDecodeMmaConfig::kStages,
          int L2Prefetch = AttentionDecodeMmaConfig::kL2Prefetch,
          bool Coalesced = AttentionDecodeMmaConfig::kCoalesced, bool Bulk = false,
          bool EvictFirst = AttentionDecodeMmaConfig::kEvictFirst, class Mod = NoScoreMod>
__global__ void __launch_bounds__(AttentionDecodeMmaConfig::kThreads)
    attention_decode_mma_kernel(const T *__restrict__ q, const T *__restrict__ k,
                                const T *__restrict__ v, const TMask *__restrict__ mask,
                                T *__restrict__ out, float *__restrict__ oPart,
                                float *__restrict__ lsePart, int batch, int qHeads, int kvHeads,
                                long long qLen, long long kvLen, long long chunkKeys,
                                float scale, bool causal, long long maskStrideB,
                                long long maskStrideH, long long maskStrideQ,
                                long long maskStrideK) {
  gridDependencySync();
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using Cfg = AttentionDecodeMmaConfig;
  constexpr int D = HeadDim, DV = HeadDimV, W = Cfg::kWarps, S = Stages;
  static_assert(S >= 2, "at least one step in flight while one computes");
  static_assert(IsHalfLike<T>::value, "the tensor-core decode kernel takes f16 / bf16");
  static_assert(Cfg::supports(D, DV), "head dims 64 or 128");
  static_assert(!Bulk || Coalesced, "bulk copies fill the stages row-major");
  // Per lane and step: K rows g and g + 8 of the step in 16-byte pieces at d = c * 32 + t * 8
  // (KC per row), V rows 2t, 2t + 1, 2t + 8, 2t + 9 in pieces at d = c * 64 + g * 8 (VC per
  // row). The d order inside the pieces is the mma's k (for K) and n (for V) order: a dot
  // product does not care which d pairs with which k, as long as Q uses the same pairing.
  constexpr int KC = D / 32, VC = DV / 64, KS = D / 16, NT = DV / 8;
  constexpr int kPieces = 2 * KC + 4 * VC;
  const float ninf = -NumericLimits<float>::infinity();
  extern __shared__ uint4 decodeMmaSmem[]; // [warp][stage][piece][lane]
  __shared__ float sM[W][Cfg::kRows], sL[W][Cfg::kRows];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int bkv = blockIdx.y, b = bkv / kvHeads, kvh = bkv % kvHeads;
  const int headsPerKv = qHeads / kvHeads;
  const index_t groupRows = index_t(headsPerKv) * qLen;
  const index_t row0 = index_t(blockIdx.z) * Cfg::kRows;
  const index_t outRows = index_t(batch) * qHeads * qLen;

  // This lane's two rows (g and g + 8), and the tile's earliest and latest queries (the causal
  // cuts: of the chunk, and of the steps every row sees whole).
  const DecodeRow rw[2] = {decodeRow(row0 + g, groupRows, kvh, headsPerKv, qLen),
                           decodeRow(row0 + g + 8, groupRows, kvh, headsPerKv, qLen)};
  index_t lastQuery = -1, firstQuery = qLen;
  for (int r = 0; r < Cfg::kRows; ++r) {
    const DecodeRow x = decodeRow(row0 + r, groupRows, kvh, headsPerKv, qLen);
    if (x.valid && x.qi > lastQuery)
      lastQuery = x.qi;
    if (x.valid && x.qi < firstQuery)
      firstQuery = x.qi;
  }
  // Rows 8-15 of the tile (each lane's second row) are all padding when the GQA group has at
  // most 8 rows left (a decode step of up to 8 query heads per kv head): their softmax is
  // skipped and their probabilities stay zero.
  const bool upper = row0 + 8 < groupRows;
  // Keys up to this one are seen by every row of the tile under causal masking.
  const index_t seenByAll = firstQuery + kvLen - qLen;

  const float qScale = scale * decode::kLog2e;
  index_t maskRow[2];
#pragma unroll
  for (int h = 0; h < 2; ++h)
    maskRow[h] = index_t(b) * maskStrideB + index_t(rw[h].head) * maskStrideH +
                 rw[h].qi * maskStrideQ;

  const index_t kBeg = index_t(blockIdx.x) * chunkKeys;
  const index_t kEnd = decode::chunkEnd(kBeg, chunkKeys, kvLen, qLen, causal, lastQuery);
  const index_t kvOff = index_t(b) * kvHeads + kvh;
  const T *kb = k + kvOff * kvLen * D;
  const T *vb = v + kvOff * kvLen * DV;
  const bool vec = isAligned(kb, 16) && isAligned(vb, 16);
  // Bulk (sm_90): one lane moves a step's K rows and V rows with one bulk copy each, completing
  // on the stage's mbarrier; the stages are then plain row-major (the fragment reads take a few
  // bank conflicts, which cost nothing next to the memory time). Elsewhere, and for operands
  // not 16-byte aligned, the lanes copy with cp.async. EvictFirst: either copy with L2's
  // evict-first policy (K and V are read once).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  const bool bulk = Bulk && vec;
#else
  constexpr bool bulk = false;
#endif
  __shared__ alignas(8) unsigned long long stageFull[Bulk ? W * S : 1];
  const unsigned long long policy = EvictFirst ? l2EvictFirstPolicy() : 0;
  const index_t steps = kEnd > kBeg ? (kEnd - kBeg + Cfg::kKeys - 1) / Cfg::kKeys : 0;
  const int mine = steps > warp ? int((steps - warp + W - 1) / W) : 0; // steps w, w + W, ...

  uint4 *ring = decodeMmaSmem + warp * S * kPieces * 32;
  auto copyPiece = [&](uint4 *dst, const T *src, bool in) {
    if (vec) {
      cpAsync16<L2Prefetch, EvictFirst>(smemAddr(dst), in ? src : kb, in ? 16u : 0u, policy);
    } else {
      T vals[8];
#pragma unroll
      for (int e = 0; e < 8; ++e)
        vals[e] = in ? src[e] : fromFloat<T>(0.0f);
      memcpy(dst, vals, 16);
    }
  };
  // Two layouts of a stage. Per lane (Coalesced false): each lane copies exactly the pieces it
  // reads, [piece][lane], so no lane waits for another. Coalesced: the stage holds the K and V
  // tiles row-major in 16-byte chunks (each copy instruction of a warp reads 512 contiguous
  // bytes), swizzled so that the fragment reads are free of bank conflicts: K chunk ch of row r
  // at ch ^ 4 (r & 1), V chunk ch at ch ^ 2 ((r >> 1) & 3).
  constexpr int KCH = D / 8, VCH = DV / 8; // 16-byte chunks per K and V row
  static_assert(32 % KCH == 0 && 32 % VCH == 0, "a warp copies whole rows per instruction");
  auto kChunk = [&](int stage, int row, int ch) -> uint4 * {
    return ring + stage * kPieces * 32 + row * KCH + (Bulk ? ch : ch ^ ((row & 1) << 2));
  };
  auto vChunk = [&](int stage, int row, int ch) -> uint4 * {
    return ring + stage * kPieces * 32 + Cfg::kKeys * KCH + row * VCH +
           (Bulk ? ch : ch ^ (((row >> 1) & 3) << 1));
  };
  auto fullBar = [&](int stage) { return smemAddr(&stageFull[Bulk ? warp * S + stage : 0]); };
  // This lane's K piece (n-tile j, d = c * 32 + t * 8) and V piece (row 2t + {0, 1, 8, 9}[rr],
  // d = c * 64 + g * 8) of a stage.
  auto kPiece = [&](int stage, int j, int c) -> uint4 * {
    if constexpr (Coalesced)
      return kChunk(stage, j * 8 + g, c * 4 + t4);
    else
      return ring + (stage * kPieces + j * KC + c) * 32 + lane;
  };
  auto vPiece = [&](int stage, int rr, int c) -> uint4 * {
    if constexpr (Coalesced)
      return vChunk(stage, 2 * t4 + (rr & 1) + (rr >> 1) * 8, c * 8 + g);
    else
      return ring + (stage * kPieces + 2 * KC + rr * VC + c) * 32 + lane;
  };
  // Step i of this warp (keys from kBeg + (warp + W i) * 16) into ring stage i % S.
  auto issue = [&](int i) {
    const int stage = i % S;
    const index_t base = kBeg + (index_t(warp) + index_t(W) * i) * Cfg::kKeys;
    if (bulk) {
      if (lane == 0) {
        // Rows past the chunk's end are not copied: their scores are masked, and their V rows
        // (zeroed before the first copy, or an earlier step's) meet probabilities of zero.
        const index_t n = kEnd - base < Cfg::kKeys ? kEnd - base : index_t(Cfg::kKeys);
        const unsigned kBytes = unsigned(n) * D * 2, vBytes = unsigned(n) * DV * 2;
        mbarArriveExpectTx(fullBar(stage), kBytes + vBytes);
        bulkLoad<EvictFirst>(smemAddr(kChunk(stage, 0, 0)), kb + base * D, kBytes,
                             fullBar(stage), policy);
        bulkLoad<EvictFirst>(smemAddr(vChunk(stage, 0, 0)), vb + base * DV, vBytes,
                             fullBar(stage), policy);
      }
      return;
    }
    if constexpr (Coalesced) {
      if (vec && base + Cfg::kKeys <= kEnd) {
        // Every key of the step is in the chunk: each copy is one instruction, at a fixed
        // offset from this lane's first (row lane / KCH, chunk lane % KCH; the swizzle keeps
        // a row's parity). The bounds checks and 64-bit index arithmetic of the general form
        // below were about half of the loop's instructions.
        const T *kLane = kb + (base + lane / KCH) * D + (lane % KCH) * 8;
        const T *vLane = vb + (base + lane / VCH) * DV + (lane % VCH) * 8;
#pragma unroll
        for (int it = 0; it < Cfg::kKeys * KCH / 32; ++it)
          cpAsync16<L2Prefetch, EvictFirst>(
              smemAddr(kChunk(stage, lane / KCH + it * (32 / KCH), lane % KCH)),
              kLane + it * (32 / KCH) * D, 16u, policy);
#pragma unroll
        for (int it = 0; it < Cfg::kKeys * VCH / 32; ++it)
          cpAsync16<L2Prefetch, EvictFirst>(
              smemAddr(vChunk(stage, lane / VCH + it * (32 / VCH), lane % VCH)),
              vLane + it * (32 / VCH) * DV, 16u, policy);
        return;
      }
#pragma unroll
      for (int it = 0; it < Cfg::kKeys * KCH / 32; ++it) {
        const int c = lane + 32 * it, row = c / KCH, ch = c % KCH;
        const index_t key = base + row;
        copyPiece(kChunk(stage, row, ch), kb + key * D + ch * 8, key < kEnd);
      }
#pragma unroll
      for (int it = 0; it < Cfg::kKeys * VCH / 32; ++it) {
        const int c = lane + 32 * it, row = c / VCH, ch = c % VCH;
        const index_t key = base + row;
        copyPiece(vChunk(stage, row, ch), vb + key * DV + ch * 8, key < kEnd);
      }
    } else {
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const index_t key = base + j * 8 + g;
#pragma unroll
        for (int c = 0; c < KC; ++c)
          copyPiece(kPiece(stage, j, c), kb + key * D + c * 32 + t4 * 8, key < kEnd);
      }
#pragma unroll
      for (int rr = 0; rr < 4; ++rr) {
        const index_t key = base + 2 * t4 + (rr & 1) + (rr >> 1) * 8;
#pragma unroll
        for (int c = 0; c < VC; ++c)
          copyPiece(vPiece(stage, rr, c), vb + key * DV + c * 64 + g * 8, key < kEnd);
      }
    }
  };

  float m[2] = {ninf, ninf}, l[2] = {0.0f, 0.0f};
  float acc[NT][4];
  zeroFragments(acc);

  if (bulk) {
    // The ring starts zeroed (finite V rows for partial steps); the bulk copies then write it
    // through the async proxy.
    for (int i = lane; i < S * kPieces * 32; i += 32)
      ring[i] = make_uint4(0, 0, 0, 0);
    if (lane < S)
      mbarInit(fullBar(lane), 1);
    fenceProxyAsync();
    fenceMbarrierInit();
    __syncwarp();
  }
#pragma unroll
  for (int i = 0; i < S - 1; ++i) {
    if (i < mine)
      issue(i);
    cpAsyncCommit();
  }
  // Q as A fragments, k-step (c, s) covering d = c * 32 + t * 8 + 4 s + {0, 1, 2, 3}; loaded
  // after the first steps' copies are issued, so that its latency overlaps theirs.
  unsigned qa[KS][4];
  {
    const T *qrow[2];
#pragma unroll
    for (int h = 0; h < 2; ++h)
      qrow[h] = q + ((index_t(b) * qHeads + rw[h].head) * qLen + rw[h].qi) * D;
    auto pair = [&](int h, int d) {
      T two[2] = {rw[h].valid ? qrow[h][d] : fromFloat<T>(0.0f),
                  rw[h].valid ? qrow[h][d + 1] : fromFloat<T>(0.0f)};
      unsigned r;
      memcpy(&r, two, 4);
      return r;
    };
#pragma unroll
    for (int c = 0; c < KC; ++c)
#pragma unroll
      for (int s = 0; s < 2; ++s) {
        const int d = c * 32 + t4 * 8 + 4 * s;
        qa[c * 2 + s][0] = pair(0, d);
        qa[c * 2 + s][1] = pair(1, d);
        qa[c * 2 + s][2] = pair(0, d + 2);
        qa[c * 2 + s][3] = pair(1, d + 2);
      }
  }
  for (int i = 0; i < mine; ++i) {
    if constexpr (Coalesced)
      __syncwarp(); // every lane is done with the stage about to be refilled
    if (i + S - 1 < mine)
      issue(i + S - 1);
    if (bulk) {
      mbarWait(fullBar(i % S), unsigned(i / S) & 1u); // step i's bytes have landed
    } else {
      cpAsyncCommit();
      cpAsyncWait<S - 1>(); // this lane's copies of step i have landed
      if constexpr (Coalesced)
        __syncwarp(); // and every other lane's
    }
    const int stage = i % S;
    const index_t base = kBeg + (index_t(warp) + index_t(W) * i) * Cfg::kKeys;

    // S = Q K^T for the step's two 8-key n-tiles.
    float sc[2][4];
#pragma unroll
    for (int j = 0; j < 2; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e)
        sc[j][e] = 0.0f;
#pragma unroll
      for (int c = 0; c < KC; ++c) {
        const uint4 kp = *kPiece(stage, j, c);
        mma16816<T>(sc[j], qa[c * 2], kp.x, kp.y);
        mma16816<T>(sc[j], qa[c * 2 + 1], kp.z, kp.w);
      }
    }
    // Scale to base 2, mask; element e of n-tile j: row g (e < 2) or g + 8, key j * 8 + 2t + e % 2.
    // A step whose keys are all in the chunk, seen by every row and not masked (all but a
    // chunk's last step and the causal diagonal's) takes the plain form: no key arithmetic.
    const bool plain =
        !mask && base + Cfg::kKeys <= kEnd && (!causal || base + Cfg::kKeys - 1 <= seenByAll);
    // Online softmax per row (the 4 lanes of a row hold its 16 scores between them).
    unsigned pa[4] = {0u, 0u, 0u, 0u};
    float alpha[2] = {1.0f, 1.0f};
    bool grew = false;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      if (h == 1 && !upper)
        break;
      if (plain) {
#pragma unroll
        for (int j = 0; j < 2; ++j)
#pragma unroll
          for (int e = 2 * h; e < 2 * h + 2; ++e)
            sc[j][e] = rw[h].valid ? Mod::apply(sc[j][e] * qScale, decode::kLog2e) : ninf;
      } else {
#pragma unroll
        for (int j = 0; j < 2; ++j)
#pragma unroll
          for (int e = 2 * h; e < 2 * h + 2; ++e) {
            const index_t key = base + j * 8 + 2 * t4 + (e & 1);
            const bool seen = rw[h].valid && key < kEnd &&
                              !(causal && key > rw[h].qi + kvLen - qLen);
            sc[j][e] = decode::maskedScore<Mod>(sc[j][e] * qScale, seen, mask, maskRow[h], key,
                                                maskStrideK);
          }
      }
      float mx = fmaxf(fmaxf(sc[0][2 * h], sc[0][2 * h + 1]),
                       fmaxf(sc[1][2 * h], sc[1][2 * h + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float mNew = fmaxf(m[h], mx);
      grew = grew || mNew > m[h];
      const float base2 = mNew == ninf ? 0.0f : mNew; // nothing visible yet: p and alpha 0
      alpha[h] = fastExp2(m[h] - base2);
      float p[2][2];
#pragma unroll
      for (int j = 0; j < 2; ++j)
#pragma unroll
        for (int e = 0; e < 2; ++e)
          p[j][e] = fastExp2(sc[j][2 * h + e] - base2);
      l[h] = l[h] * alpha[h] + (p[0][0] + p[0][1]) + (p[1][0] + p[1][1]);
      m[h] = mNew;
      pa[h] = packHalf2<T>(p[0][0], p[0][1]);     // keys 2t, 2t + 1
      pa[h + 2] = packHalf2<T>(p[1][0], p[1][1]); // keys 8 + 2t, 8 + 2t + 1
    }
    // alpha is 1 where a row's max did not grow (and O still zero where nothing was seen yet):
    // after a chunk's first steps the rescale is rarely needed, so the warp skips it unless
    // one of its rows grew.
    if (__any_sync(0xffffffffu, grew)) {
#pragma unroll
      for (int n = 0; n < NT; ++n) {
        acc[n][0] *= alpha[0];
        acc[n][1] *= alpha[0];
      }
      if (upper) {
#pragma unroll
        for (int n = 0; n < NT; ++n) {
          acc[n][2] *= alpha[1];
          acc[n][3] *= alpha[1];
        }
      }
    }
    // O += P V: n-tile (c, e) column g is d = c * 64 + g * 8 + e; B pairs keys (2t, 2t + 1) and
    // (2t + 8, 2t + 9) at that d, picked out of the four V pieces by byte permutes.
#pragma unroll
    for (int c = 0; c < VC; ++c) {
      const uint4 v0 = *vPiece(stage, 0, c), v1 = *vPiece(stage, 1, c), v2 = *vPiece(stage, 2, c),
                  v3 = *vPiece(stage, 3, c);
      const unsigned w0[4] = {v0.x, v0.y, v0.z, v0.w}, w1[4] = {v1.x, v1.y, v1.z, v1.w},
                     w2[4] = {v2.x, v2.y, v2.z, v2.w}, w3[4] = {v3.x, v3.y, v3.z, v3.w};
#pragma unroll
      for (int w = 0; w < 4; ++w) {
        mma16816<T>(acc[c * 8 + 2 * w], pa, __byte_perm(w0[w], w1[w], 0x5410),
                    __byte_perm(w2[w], w3[w], 0x5410));
        mma16816<T>(acc[c * 8 + 2 * w + 1], pa, __byte_perm(w0[w], w1[w], 0x7632),
                    __byte_perm(w2[w], w3[w], 0x7632));
      }
    }
  }
  cpAsyncWait<0>();
  __syncwarp();

  // Row sums across the 4 lanes of a row; then each warp's state into its own ring (reused as
  // f32 [16][DV]) and the warps merged through shared memory.
  float *sO = reinterpret_cast<float *>(ring);
  static_assert(Cfg::kRows * DV * 4 <= S * kPieces * 32 * 16, "the merge fits a warp's ring");
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
    if (t4 == 0) {
      sM[warp][g + 8 * h] = m[h];
      sL[warp][g + 8 * h] = l[h];
    }
  }
#pragma unroll
  for (int n = 0; n < NT; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int row = g + 8 * (e >> 1), col = 2 * t4 + (e & 1);
      sO[row * DV + (n / 8) * 64 + col * 8 + n % 8] = acc[n][e];
    }
  __syncthreads();
  // ClusterMerge: the block's rows stay in shared memory for the cluster's merge, after warp 0's
  // state (which the loop below reads while it writes them).
  float *sChunk = reinterpret_cast<float *>(decodeMmaSmem) + Cfg::kRows * DV;
  __shared__ alignas(16) float sLse[ClusterMerge ? Cfg::kRows : 1];
  static_assert(!ClusterMerge || 2 * Cfg::kRows * DV * 4 <= S * kPieces * 32 * 16,
                "the chunk's rows fit after warp 0's state in its ring");
  const index_t chunk = blockIdx.x;
  for (int idx = tid; idx < Cfg::kRows * DV; idx += Cfg::kThreads) {
    const int r = idx / DV, d = idx % DV;
    const DecodeRow x = decodeRow(row0 + r, groupRows, kvh, headsPerKv, qLen);
    if (!x.valid)
      continue;
    const index_t outRow = (index_t(b) * qHeads + x.head) * qLen + x.qi;
    float mm = sM[0][r];
#pragma unroll
    for (int w = 1; w < W; ++w)
      mm = fmaxf(mm, sM[w][r]);
    float sum = 0.0f, o = 0.0f;
#pragma unroll
    for (int w = 0; w < W; ++w) {
      const float f = sM[w][r] == ninf ? 0.0f : exp2f(sM[w][r] - mm);
      sum += sL[w][r] * f;
      o += reinterpret_cast<const float *>(decodeMmaSmem + w * S * kPieces * 32)[r * DV + d] * f;
    }
    const float val = sum > 0.0f ? o / sum : 0.0f;
    const float lse = sum > 0.0f ? mm + log2f(sum) : ninf;
    if constexpr (ClusterMerge) {
      sChunk[r * DV + d] = val;
      if (d == 0)
        sLse[r] = lse;
    } else if (oPart) {
      oPart[(chunk * outRows + outRow) * DV + d] = val;
      if (d == 0)
        lsePart[chunk * outRows + outRow] = lse;
    } else {
      out[outRow * DV + d] = fromFloat<T>(val);
    }
  }
  if constexpr (ClusterMerge) {
#if __CUDA_ARCH__ >= 900
    // The launch makes each (batch, kv head, row tile) one cluster of gridDim.x blocks.
    if (clusterBlocks() != gridDim.x || clusterRank() != blockIdx.x)
      __trap();
    decode::mergeCluster<T, DV, Cfg::kRows, Cfg::kThreads>(sChunk, sLse, out, row0, groupRows,
                                                           kvh, headsPerKv, qLen, b, qHeads,
                                                           tid);
#else
    __trap(); // clusters need sm_90
#endif
  }
#else
  __trap(); // mma.sync needs sm_80 (the project targets sm_80+)
#endif
}

template <class T>
__global__ void __launch_bounds__(AttentionDecodeSplitConfig::kCombineThreads)
    attention_decode_combine_kernel(const float *__restrict__ oPart,
                                    const float *__restrict__ lsePart, T *__restrict__ out,
                                    long long rows, int chunks, int headDimV) {
  gridDependencySync();
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
