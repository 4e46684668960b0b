//===- Contraction.cpp - matmul, matmul_integer and einsum kernels --------===//
//
// Floating-point products accumulate in f64 whatever the input type: this interpreter is the
// oracle other backends are compared with, so its own rounding error should be negligible next
// to theirs. Integer products wrap in the result type, as ONNX Runtime's do.
//
//===----------------------------------------------------------------------===//

#include "KernelUtils.h"
#include "Kernels.h"
#include "ShapeUtils.h"

#include "spdc/Dialect/Spd/SpdOps.h"

#include <algorithm>
#include <cstring>
#include <vector>

using namespace mlir;
using namespace spdc;
using llvm::ArrayRef;
using llvm::Error;
using llvm::SmallVector;

namespace {

//===----------------------------------------------------------------------===//
// Blocked GEMM
//===----------------------------------------------------------------------===//

/// Rows of C computed together, so that each row of B loaded from cache feeds 4 rows.
constexpr int64_t kGemmRowBlock = 4;
/// Columns of C per panel: 4 rows of 256 f64 accumulators (8 KiB) stay in L1 while the
/// K x 256 panel of B streams from L2.
constexpr int64_t kGemmColBlock = 256;

/// C[M,N] = A[M,K] x B[K,N], all contiguous row-major. `store(acc)` converts an accumulator to
/// an element of C. AccT is f64 for floats and an unsigned integer (wrapping) for integers.
template <typename InT, typename AccT, typename OutT, typename StoreFn>
void gemm(const InT *__restrict a, const InT *__restrict b, OutT *__restrict c, int64_t m,
          int64_t n, int64_t k, StoreFn store) {
  if (n == 1) {
    // Matrix-vector: B is one contiguous column, a dot product per row.
    for (int64_t i = 0; i < m; ++i) {
      AccT acc = 0;
      const InT *row = a + i * k;
      for (int64_t p = 0; p < k; ++p)
        acc += static_cast<AccT>(row[p]) * static_cast<AccT>(b[p]);
      c[i] = store(acc);
    }
    return;
  }
  AccT acc[kGemmRowBlock][kGemmColBlock];
  for (int64_t jb = 0; jb < n; jb += kGemmColBlock) {
    int64_t nb = std::min(kGemmColBlock, n - jb);
    for (int64_t ib = 0; ib < m; ib += kGemmRowBlock) {
      int64_t mb = std::min(kGemmRowBlock, m - ib);
      for (int64_t r = 0; r < mb; ++r)
        std::fill(acc[r], acc[r] + nb, AccT(0));
      const InT *aBlock = a + ib * k;
      if (mb == kGemmRowBlock) {
        AccT *__restrict acc0 = acc[0];
        AccT *__restrict acc1 = acc[1];
        AccT *__restrict acc2 = acc[2];
        AccT *__restrict acc3 = acc[3];
        for (int64_t p = 0; p < k; ++p) {
          const InT *__restrict bRow = b + p * n + jb;
          AccT a0 = static_cast<AccT>(aBlock[p]);
          AccT a1 = static_cast<AccT>(aBlock[k + p]);
          AccT a2 = static_cast<AccT>(aBlock[2 * k + p]);
          AccT a3 = static_cast<AccT>(aBlock[3 * k + p]);
          for (int64_t j = 0; j < nb; ++j) {
            AccT bv = static_cast<AccT>(bRow[j]);
            acc0[j] += a0 * bv;
            acc1[j] += a1 * bv;
            acc2[j] += a2 * bv;
            acc3[j] += a3 * bv;
          }
        }
      } else {
        for (int64_t r = 0; r < mb; ++r) {
          AccT *__restrict accRow = acc[r];
          for (int64_t p = 0; p < k; ++p) {
            const InT *__restrict bRow = b + p * n + jb;
            AccT av = static_cast<AccT>(aBlock[r * k + p]);
            for (int64_t j = 0; j < nb; ++j)
              accRow[j] += av * static_cast<AccT>(bRow[j]);
          }
        }
      }
      for (int64_t r = 0; r < mb; ++r) {
        OutT *cRow = c + (ib + r) * n + jb;
        for (int64_t j = 0; j < nb; ++j)
          cRow[j] = store(acc[r][j]);
      }
    }
  }
}

/// Shapes of a numpy matmul: batch dimensions broadcast, 1-D operands promoted.
struct MatMulShape {
  int64_t m = 1, n = 1, k = 1;
  SmallVector<int64_t, 6> batch;
  // Strides of each operand's matrices over `batch`, in matrices (0 where broadcast).
  SmallVector<int64_t, 6> lhsBatchStrides, rhsBatchStrides;
  SmallVector<int64_t, 6> result;
};

llvm::Expected<MatMulShape> matmulShape(Operation *op, ArrayRef<int64_t> lhs,
                                        ArrayRef<int64_t> rhs) {
  if (lhs.empty() || rhs.empty())
    return opError(op, "operands must have rank 1 or more, got " + shapeString(lhs) + " and " +
                           shapeString(rhs));
  MatMulShape s;
  ArrayRef<int64_t> lhsBatch, rhsBatch;
  int64_t kRhs;
  if (lhs.size() == 1) {
    s.k = lhs[0];
  } else {
    s.m = lhs[lhs.size() - 2];
    s.k = lhs.back();
    lhsBatch = lhs.drop_back(2);
  }
  if (rhs.size() == 1) {
    kRhs = rhs[0];
  } else {
    kRhs = rhs[rhs.size() - 2];
    s.n = rhs.back();
    rhsBatch = rhs.drop_back(2);
  }
  if (s.k != kRhs)
    return opError(op,
                   "contracted dimensions differ: " + shapeString(lhs) + " x " + shapeString(rhs));
  auto batch = broadcastShapes(op, {lhsBatch, rhsBatch});
  if (!batch)
    return batch.takeError();
  s.batch = *batch;
  s.lhsBatchStrides = broadcastStrides(lhsBatch, s.batch);
  s.rhsBatchStrides = broadcastStrides(rhsBatch, s.batch);
  s.result = s.batch;
  if (lhs.size() > 1)
    s.result.push_back(s.m);
  if (rhs.size() > 1)
    s.result.push_back(s.n);
  return s;
}

/// Runs `matrix(lhsOffset, rhsOffset, outOffset)` (offsets in matrices) for every batch index.
template <typename Fn> void forEachBatch(const MatMulShape &s, Fn matrix) {
  int64_t count = product(s.batch);
  SmallVector<int64_t, 6> idx(s.batch.size(), 0);
  int64_t lhsOff = 0, rhsOff = 0;
  for (int64_t b = 0; b < count; ++b) {
    matrix(lhsOff, rhsOff, b);
    for (int64_t d = static_cast<int64_t>(s.batch.size()) - 1; d >= 0; --d) {
      lhsOff += s.lhsBatchStrides[d];
      rhsOff += s.rhsBatchStrides[d];
      if (++idx[d] < s.batch[d])
        break;
      lhsOff -= s.lhsBatchStrides[d] * s.batch[d];
      rhsOff -= s.rhsBatchStrides[d] * s.batch[d];
      idx[d] = 0;
    }
  }
}

template <typename InT, typename AccT, typename OutT, typename StoreFn>
void batchedGemm(const MatMulShape &s, const InT *lhs, const InT *rhs, OutT *out, StoreFn store) {
  forEachBatch(s, [&](int64_t lhsOff, int64_t rhsOff, int64_t outOff) {
    gemm<InT, AccT>(lhs + lhsOff * s.m * s.k, rhs + rhsOff * s.k * s.n, out + outOff * s.m * s.n,
                    s.m, s.n, s.k, store);
  });
}

/// The elements of `t` (storage type T) widened to f32.
template <typename T> std::vector<float> toFloats(const Tensor &t) {
  std::vector<float> out(t.numElements());
  const T *src = t.data<T>();
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = load(src[i]);
  return out;
}

Error matmulKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  const Tensor &lhs = operands[0], &rhs = operands[1];
  if (lhs.dtype() != rhs.dtype())
    return opError(op, "operand element types differ: " + lhs.typeString() + " and " +
                           rhs.typeString());
  auto shape = matmulShape(op, lhs.shape(), rhs.shape());
  if (!shape)
    return shape.takeError();
  auto out = allocateResult(op, lhs.dtype(), shape->result);
  if (!out)
    return out.takeError();
  const MatMulShape &s = *shape;
  if (Error e = dispatch<kNumeric>(op, lhs.dtype(), [&](auto tag) -> Error {
        using T = decltype(tag);
        T *dst = out->template mutableData<T>();
        if constexpr (kIsHalfLike<T>) {
          std::vector<float> a = toFloats<T>(lhs), b = toFloats<T>(rhs);
          batchedGemm<float, double>(s, a.data(), b.data(), dst,
                                     [](double v) { return store<T>(v); });
        } else if constexpr (std::is_floating_point_v<T>) {
          batchedGemm<T, double>(s, lhs.data<T>(), rhs.data<T>(), dst,
                                 [](double v) { return static_cast<T>(v); });
        } else {
          // Accumulate modulo 2^64, then truncate: equal to wrapping in T.
          batchedGemm<T, uint64_t>(s, lhs.data<T>(), rhs.data<T>(), dst,
                                   [](uint64_t v) { return static_cast<T>(v); });
        }
        return Error::success();
      }))
    return e;
  results.push_back(std::move(*out));
  return Error::success();
}

//===----------------------------------------------------------------------===//
// matmul_integer
//===----------------------------------------------------------------------===//

/// `t` as int32 minus its zero point. `zp` is a scalar, a vector along `vectorDim` of `t`
/// (rows of A, columns of B), or a tensor of `t`'s rank with size 1 along the contracted dim.
llvm::Expected<std::vector<int32_t>> subtractZeroPoint(Operation *op, const Tensor &t,
                                                       const Tensor *zp, bool isLhs) {
  if (t.dtype() != DType::I8 && t.dtype() != DType::U8)
    return opError(op, "operands must be i8 or ui8, got " + t.typeString());
  std::vector<int32_t> out(t.numElements());
  bool isSigned = t.dtype() == DType::I8;
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = isSigned ? t.data<int8_t>()[i] : t.data<uint8_t>()[i];
  if (!zp)
    return out;
  if (zp->dtype() != t.dtype())
    return opError(op, "zero point " + zp->typeString() + " differs from its operand " +
                           t.typeString());
  SmallVector<int64_t> zpv = readInts(*zp);
  ArrayRef<int64_t> shape = t.shape();
  int64_t rank = t.rank();
  // The dimension the zero point varies along: rows of A ([.., M, K]), columns of B ([.., K, N]).
  int64_t vecDim = isLhs ? (rank >= 2 ? rank - 2 : -1) : (rank >= 2 ? rank - 1 : -1);
  int64_t cols = rank ? shape.back() : 1;
  if (zpv.size() == 1) {
    for (int32_t &v : out)
      v -= static_cast<int32_t>(zpv[0]);
    return out;
  }
  if (zp->rank() == 1 && vecDim >= 0 && zp->dim(0) == shape[vecDim]) {
    int64_t rowLen = isLhs ? cols : 1;
    int64_t period = shape[vecDim];
    for (size_t i = 0; i < out.size(); ++i)
      out[i] -= static_cast<int32_t>(zpv[(i / rowLen) % period]);
    return out;
  }
  // Batched: A's zero point is [..., M, 1], B's is [..., 1, N].
  if (zp->rank() == rank && rank >= 2) {
    SmallVector<int64_t, 6> expected(shape);
    expected[isLhs ? rank - 1 : rank - 2] = 1;
    if (llvm::ArrayRef<int64_t>(expected) == zp->shape()) {
      int64_t k = isLhs ? cols : shape[rank - 2];
      int64_t n = cols;
      for (size_t i = 0; i < out.size(); ++i) {
        int64_t zi = isLhs ? static_cast<int64_t>(i) / k
                           : (static_cast<int64_t>(i) / (k * n)) * n + static_cast<int64_t>(i) % n;
        out[i] -= static_cast<int32_t>(zpv[zi]);
      }
      return out;
    }
  }
  return opError(op, "zero point " + zp->typeString() + " does not fit operand " + t.typeString() +
                         " (scalar, per-" + (isLhs ? "row" : "column") + " vector or batched)");
}

Error matmulIntegerKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto mm = cast<spd::MatMulIntegerOp>(op);
  const Tensor &lhs = operands[0], &rhs = operands[1];
  const Tensor *lhsZp = nullptr, *rhsZp = nullptr;
  if (mm.getLhsZeroPoint())
    lhsZp = &operands[mm.getODSOperandIndexAndLength(2).first];
  if (mm.getRhsZeroPoint())
    rhsZp = &operands[mm.getODSOperandIndexAndLength(3).first];
  auto shape = matmulShape(op, lhs.shape(), rhs.shape());
  if (!shape)
    return shape.takeError();
  auto a = subtractZeroPoint(op, lhs, lhsZp, /*isLhs=*/true);
  if (!a)
    return a.takeError();
  auto b = subtractZeroPoint(op, rhs, rhsZp, /*isLhs=*/false);
  if (!b)
    return b.takeError();
  auto out = allocateResult(op, DType::I32, shape->result);
  if (!out)
    return out.takeError();
  batchedGemm<int32_t, uint32_t>(*shape, a->data(), b->data(), out->mutableData<int32_t>(),
                                 [](uint32_t v) { return static_cast<int32_t>(v); });
  results.push_back(std::move(*out));
  return Error::success();
}

//===----------------------------------------------------------------------===//
// einsum
//===----------------------------------------------------------------------===//

/// Letters are labels 0..51; the dimensions under `...` are labels kEllipsisLabel + i, i
/// counted from the left of the widest ellipsis.
constexpr int kEllipsisLabel = 52;

int letterLabel(char c) {
  if (c >= 'a' && c <= 'z')
    return c - 'a';
  if (c >= 'A' && c <= 'Z')
    return 26 + (c - 'A');
  return -1;
}

struct EinsumSpec {
  SmallVector<SmallVector<int, 6>> inputs;
  SmallVector<int, 6> output;
  int numLabels = kEllipsisLabel;
};

/// Parses one side of the equation term into letters and whether (where) `...` appears.
struct Term {
  SmallVector<int, 6> before, after;
  bool ellipsis = false;
};

llvm::Expected<Term> parseTerm(Operation *op, StringRef text) {
  Term t;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.') {
      if (t.ellipsis || text.substr(i, 3) != "...")
        return opError(op, "malformed '...' in einsum term \"" + text + "\"");
      t.ellipsis = true;
      i += 2;
      continue;
    }
    int label = letterLabel(c);
    if (label < 0)
      return opError(op, "invalid character '" + Twine(c) + "' in einsum equation");
    (t.ellipsis ? t.after : t.before).push_back(label);
  }
  return t;
}

llvm::Expected<EinsumSpec> parseEinsum(Operation *op, StringRef equation,
                                       ArrayRef<Tensor> operands) {
  std::string eq;
  for (char c : equation)
    if (c != ' ')
      eq.push_back(c);
  StringRef eqRef(eq);
  auto [lhs, rhs] = eqRef.split("->");
  bool explicitOutput = eqRef.contains("->");
  SmallVector<StringRef> termTexts;
  lhs.split(termTexts, ',');
  if (termTexts.size() != operands.size())
    return opError(op, "equation \"" + equation + "\" names " + Twine(termTexts.size()) +
                           " operands, got " + Twine(operands.size()));
  SmallVector<Term> terms;
  int64_t ellipsisRank = 0;
  for (auto [text, operand] : llvm::zip(termTexts, operands)) {
    auto term = parseTerm(op, text);
    if (!term)
      return term.takeError();
    int64_t letters = term->before.size() + term->after.size();
    int64_t rest = operand.rank() - letters;
    if (rest < 0 || (!term->ellipsis && rest != 0))
      return opError(op,
                     "einsum term \"" + text + "\" does not match operand " + operand.typeString());
    ellipsisRank = std::max(ellipsisRank, rest);
    terms.push_back(std::move(*term));
  }
  EinsumSpec spec;
  spec.numLabels = kEllipsisLabel + ellipsisRank;
  int counts[kEllipsisLabel] = {};
  bool anyEllipsis = false;
  for (auto [term, operand] : llvm::zip(terms, operands)) {
    SmallVector<int, 6> labels(term.before);
    int64_t rest = operand.rank() - term.before.size() - term.after.size();
    for (int64_t i = 0; i < rest; ++i)
      labels.push_back(kEllipsisLabel + (ellipsisRank - rest) + i);
    labels.append(term.after);
    anyEllipsis |= term.ellipsis;
    for (int l : labels)
      if (l < kEllipsisLabel)
        ++counts[l];
    spec.inputs.push_back(std::move(labels));
  }
  auto ellipsisLabels = [&](SmallVectorImpl<int> &out) {
    for (int64_t i = 0; i < ellipsisRank; ++i)
      out.push_back(kEllipsisLabel + i);
  };
  if (!explicitOutput) {
    // numpy: broadcast dimensions first, then the letters seen once, in alphabetical order.
    if (anyEllipsis)
      ellipsisLabels(spec.output);
    for (int i = 0; i < kEllipsisLabel; ++i) {
      int l = (i + 26) % kEllipsisLabel; // ASCII order: upper case (26..51) first.
      if (counts[l] == 1)
        spec.output.push_back(l);
    }
    return spec;
  }
  auto out = parseTerm(op, rhs);
  if (!out)
    return out.takeError();
  spec.output.append(out->before);
  if (out->ellipsis)
    ellipsisLabels(spec.output);
  spec.output.append(out->after);
  bool seen[kEllipsisLabel] = {};
  for (int l : spec.output) {
    if (l >= kEllipsisLabel)
      continue;
    if (seen[l] || counts[l] == 0)
      return opError(op, "einsum output label repeated or absent from the inputs in \"" + equation +
                             "\"");
    seen[l] = true;
  }
  return spec;
}

template <typename AccT>
llvm::Expected<Tensor> runEinsum(Operation *op, const EinsumSpec &spec, ArrayRef<Tensor> operands) {
  size_t numOps = operands.size();
  int numLabels = spec.numLabels;
  // Label sizes, with numpy broadcasting of size-1 dimensions.
  SmallVector<int64_t> sizes(numLabels, -1);
  for (auto [labels, operand] : llvm::zip(spec.inputs, operands)) {
    for (auto [d, l] : llvm::enumerate(labels)) {
      int64_t size = operand.dim(d);
      if (sizes[l] == -1 || sizes[l] == 1)
        sizes[l] = size;
      else if (size != sizes[l] && size != 1)
        return opError(op, "einsum dimension sizes disagree: " + Twine(size) + " vs " +
                               Twine(sizes[l]));
    }
  }
  for (int64_t &s : sizes)
    if (s == -1)
      s = 1;
  // Per operand, the element stride of each label (summed over repeats: diagonals).
  std::vector<SmallVector<int64_t>> strides(numOps, SmallVector<int64_t>(numLabels, 0));
  for (size_t o = 0; o < numOps; ++o) {
    SmallVector<int64_t, 6> own = rowMajorStrides(operands[o].shape());
    for (auto [d, l] : llvm::enumerate(spec.inputs[o]))
      if (operands[o].dim(d) != 1 || sizes[l] == 1)
        strides[o][l] += own[d];
  }
  // Operands widened to the accumulator type once.
  std::vector<std::vector<AccT>> values(numOps);
  for (size_t o = 0; o < numOps; ++o) {
    const Tensor &t = operands[o];
    values[o].resize(t.numElements());
    if (Error e = dispatch<kAllTypes>(op, t.dtype(), [&](auto tag) -> Error {
          using T = decltype(tag);
          const T *src = t.data<T>();
          for (size_t i = 0; i < values[o].size(); ++i) {
            if constexpr (std::is_floating_point_v<AccT>)
              values[o][i] = static_cast<AccT>(load(src[i]));
            else
              values[o][i] = static_cast<AccT>(castValue<int64_t>(load(src[i])));
          }
          return Error::success();
        }))
      return std::move(e);
  }
  SmallVector<int, 6> outLabels(spec.output);
  SmallVector<int, 6> sumLabels;
  for (int l = 0; l < numLabels; ++l)
    if (!llvm::is_contained(outLabels, l) &&
        llvm::any_of(spec.inputs, [&](auto &in) { return llvm::is_contained(in, l); }))
      sumLabels.push_back(l);
  SmallVector<int64_t, 6> outShape;
  for (int l : outLabels)
    outShape.push_back(sizes[l]);
  auto result = allocateResult(op, operands[0].dtype(), outShape);
  if (!result)
    return result.takeError();
  int64_t outCount = product(outShape);
  int64_t sumCount = 1;
  for (int l : sumLabels)
    sumCount *= sizes[l];

  // Odometer over `labels`, moving every operand's offset with it.
  auto advance = [&](ArrayRef<int> labels, SmallVectorImpl<int64_t> &idx,
                     SmallVectorImpl<int64_t> &offsets) {
    for (int64_t d = static_cast<int64_t>(labels.size()) - 1; d >= 0; --d) {
      int l = labels[d];
      for (size_t o = 0; o < numOps; ++o)
        offsets[o] += strides[o][l];
      if (++idx[d] < sizes[l])
        return;
      for (size_t o = 0; o < numOps; ++o)
        offsets[o] -= strides[o][l] * sizes[l];
      idx[d] = 0;
    }
  };
  SmallVector<int64_t, 6> outIdx(outLabels.size(), 0), base(numOps, 0);
  std::vector<AccT> sums(outCount);
  for (int64_t i = 0; i < outCount; ++i) {
    SmallVector<int64_t, 6> sumIdx(sumLabels.size(), 0), offsets(base);
    AccT acc = 0;
    for (int64_t s = 0; s < sumCount; ++s) {
      AccT prod = 1;
      for (size_t o = 0; o < numOps; ++o)
        prod *= values[o][offsets[o]];
      acc += prod;
      advance(sumLabels, sumIdx, offsets);
    }
    sums[i] = acc;
    advance(outLabels, outIdx, base);
  }
  if (Error e = dispatch<kAllTypes>(op, result->dtype(), [&](auto tag) -> Error {
        using T = decltype(tag);
        T *dst = result->template mutableData<T>();
        for (int64_t i = 0; i < outCount; ++i) {
          if constexpr (std::is_floating_point_v<AccT>)
            dst[i] = store<T>(sums[i]);
          else
            dst[i] = castValue<T>(static_cast<int64_t>(sums[i]));
        }
        return Error::success();
      }))
    return std::move(e);
  return std::move(*result);
}

Error einsumKernel(Operation *op, ArrayRef<Tensor> operands, std::vector<Tensor> &results) {
  auto einsum = cast<spd::EinsumOp>(op);
  if (operands.empty())
    return opError(op, "einsum needs at least one operand");
  for (const Tensor &t : operands)
    if (t.dtype() != operands[0].dtype())
      return opError(op, "einsum operands have different element types");
  auto spec = parseEinsum(op, einsum.getEquation(), operands);
  if (!spec)
    return spec.takeError();
  auto out = isFloat(operands[0].dtype()) ? runEinsum<double>(op, *spec, operands)
                                          : runEinsum<uint64_t>(op, *spec, operands);
  if (!out)
    return out.takeError();
  results.push_back(std::move(*out));
  return Error::success();
}

} // namespace

void spdc::registerContractionKernels(KernelTable &table) {
  table.add<spd::MatMulOp>(matmulKernel);
  table.add<spd::MatMulIntegerOp>(matmulIntegerKernel);
  table.add<spd::EinsumOp>(einsumKernel);
}
