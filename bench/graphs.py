"""ONNX graphs of the kernel rows, written the way PyTorch's exporter writes the HF modules, and
their numpy references. Needs onnx and numpy only (no torch), so that `run.py --small --dry-run`
works on a machine without a GPU.

Every graph is bf16 end to end (TensorProto.BFLOAT16 inputs, weights and output), with the f32
upcasts HF writes (RMSNorm's variance). spdc recognizes each as one composite: spd.attention,
spd.rms_norm, spd.rope, spd.swiglu.
"""
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper

BF16 = TensorProto.BFLOAT16
F32 = TensorProto.FLOAT
OPSET = 18

# Mask value of the causal additive mask: HF writes finfo(dtype).min; bf16's is -3.39e38.
BF16_MIN = -3.3895313892515355e38


# ---------------------------------------------------------------------------------------------
# bf16 without numpy support: tensors travel as uint16 bit patterns
# ---------------------------------------------------------------------------------------------

def to_bf16_bits(x):
    """float array -> uint16 bf16 bit patterns, rounded to nearest even."""
    f = np.ascontiguousarray(x, dtype=np.float32)
    bits = f.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    out = rounded.astype(np.uint16)
    nan = np.isnan(f)
    if nan.any():
        out[nan] = 0x7FC0
    return out


def from_bf16_bits(b):
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def round_bf16(x):
    """x rounded to bf16 and back to float32, as a bf16 tensor would hold it."""
    return from_bf16_bits(to_bf16_bits(x))


def bf16_tensor(name, x):
    """A bf16 TensorProto from a float array (raw data, fast for large constants)."""
    x = np.asarray(x, dtype=np.float32)
    t = TensorProto()
    t.name = name
    t.data_type = BF16
    t.dims.extend(x.shape)
    t.raw_data = to_bf16_bits(x).tobytes()
    return t


def bf16_array(t):
    """A bf16 TensorProto's values as float32."""
    raw = np.frombuffer(t.raw_data, dtype=np.uint16) if t.raw_data else np.asarray(t.int32_data, dtype=np.uint16)
    return from_bf16_bits(raw).reshape(tuple(t.dims))


def i64(name, values):
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], list(values))


def scalar(name, value, dtype=BF16):
    if dtype == BF16:
        return bf16_tensor(name, np.array(value, dtype=np.float32))
    return helper.make_tensor(name, dtype, [], [value])


def make_model(name, nodes, inputs, outputs, initializers):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="spdc-bench")
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model


def vi(name, shape, dtype=BF16):
    return helper.make_tensor_value_info(name, dtype, list(shape))


# ---------------------------------------------------------------------------------------------
# The graphs
# ---------------------------------------------------------------------------------------------

def causal_mask(sq, skv):
    """HF's additive causal mask [1, 1, sq, skv]: 0 where key j <= i + skv - sq, min elsewhere."""
    i = np.arange(sq)[:, None]
    j = np.arange(skv)[None, :]
    return np.where(j <= i + skv - sq, 0.0, BF16_MIN).astype(np.float32)[None, None]


def attention(b, h, s, d, causal, kv_heads=None, sq=None):
    """softmax(Q K^T * scale [+ mask]) V on [b, h, s, d] inputs, HF's eager attention:
    scores in bf16, the softmax in f32 (`softmax(..., dtype=float32).to(q.dtype)`). With
    kv_heads < h, K and V come in with kv_heads heads and go through HF's repeat_kv
    (Unsqueeze, Expand, Reshape); `sq` is the query length (1 for decode)."""
    sq = s if sq is None else sq
    kvh = h if kv_heads is None else kv_heads
    nodes, inits = [], []
    k_name, v_name = "k", "v"
    if kvh != h:
        n_rep = h // kvh
        inits += [i64("unsq_axes", [2]), i64("rep_shape", [b, kvh, n_rep, s, d]), i64("heads_shape", [b, h, s, d])]
        for x in ("k", "v"):
            nodes += [
                helper.make_node("Unsqueeze", [x, "unsq_axes"], [f"{x}_u"], name=f"{x}_unsqueeze"),
                helper.make_node("Expand", [f"{x}_u", "rep_shape"], [f"{x}_e"], name=f"{x}_expand"),
                helper.make_node("Reshape", [f"{x}_e", "heads_shape"], [f"{x}_rep"], name=f"{x}_repeat_kv"),
            ]
        k_name, v_name = "k_rep", "v_rep"
    inits.append(scalar("scale", 1.0 / math.sqrt(d)))
    nodes += [
        helper.make_node("Transpose", [k_name], ["k_t"], perm=[0, 1, 3, 2], name="key_transpose"),
        helper.make_node("MatMul", ["q", "k_t"], ["qk"], name="qk_matmul"),
        helper.make_node("Mul", ["qk", "scale"], ["scores"], name="scale_mul"),
    ]
    scores = "scores"
    if causal:
        inits.append(bf16_tensor("causal_mask", causal_mask(sq, s)))
        nodes.append(helper.make_node("Add", ["scores", "causal_mask"], ["masked"], name="mask_add"))
        scores = "masked"
    nodes += [
        helper.make_node("Cast", [scores], ["scores_f32"], to=F32, name="upcast"),
        helper.make_node("Softmax", ["scores_f32"], ["probs_f32"], axis=-1, name="softmax"),
        helper.make_node("Cast", ["probs_f32"], ["probs"], to=BF16, name="downcast"),
        helper.make_node("MatMul", ["probs", v_name], ["out"], name="pv_matmul"),
    ]
    inputs = [vi("q", [b, h, sq, d]), vi("k", [b, kvh, s, d]), vi("v", [b, kvh, s, d])]
    name = "attention_decode" if sq != s else ("attention_causal" if causal else "attention")
    return make_model(name, nodes, inputs, [vi("out", [b, h, sq, d])], inits)


def rmsnorm(rows, hidden, eps=1e-6):
    """HF LlamaRMSNorm: w * (x_f32 * rsqrt(mean(x_f32^2) + eps)).to(bf16); the exporter writes
    rsqrt as Reciprocal(Sqrt)."""
    rng = np.random.default_rng(7)
    inits = [bf16_tensor("weight", 1.0 + 0.1 * rng.standard_normal(hidden)),
             scalar("two", 2.0, F32), scalar("eps", eps, F32), i64("axes", [-1])]
    nodes = [
        helper.make_node("Cast", ["x"], ["x_f32"], to=F32, name="upcast"),
        helper.make_node("Pow", ["x_f32", "two"], ["sq"], name="pow"),
        helper.make_node("ReduceMean", ["sq", "axes"], ["var"], keepdims=1, name="mean"),
        helper.make_node("Add", ["var", "eps"], ["var_eps"], name="add_eps"),
        helper.make_node("Sqrt", ["var_eps"], ["std"], name="sqrt"),
        helper.make_node("Reciprocal", ["std"], ["inv_std"], name="rsqrt"),
        helper.make_node("Mul", ["x_f32", "inv_std"], ["normed_f32"], name="normalize"),
        helper.make_node("Cast", ["normed_f32"], ["normed"], to=BF16, name="downcast"),
        helper.make_node("Mul", ["weight", "normed"], ["out"], name="scale_by_weight"),
    ]
    return make_model("rmsnorm", nodes, [vi("x", [rows, hidden])], [vi("out", [rows, hidden])], inits)


def rope_tables(s, d, base=10000.0):
    """HF's default rotary tables [1, 1, s, d] (cos, sin), f32 values to be stored in bf16."""
    inv_freq = 1.0 / (base ** (np.arange(0, d, 2, dtype=np.float64) / d))
    freqs = np.arange(s, dtype=np.float64)[:, None] * inv_freq[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)
    return np.cos(emb)[None, None].astype(np.float32), np.sin(emb)[None, None].astype(np.float32)


def rope(b, s, h, d):
    """HF apply_rotary_pos_emb on one [b, h, s, d] tensor: q * cos + rotate_half(q) * sin, with
    rotate_half(q) = cat(-q[..., d/2:], q[..., :d/2]) as Slice/Neg/Concat; cos/sin are the
    model's [1, 1, s, d] bf16 tables (constants here, as a static-shape export folds them)."""
    cos, sin = rope_tables(s, d)
    half = d // 2
    inits = [bf16_tensor("cos", cos), bf16_tensor("sin", sin),
             i64("zero", [0]), i64("half", [half]), i64("end", [d]), i64("last", [-1])]
    nodes = [
        helper.make_node("Slice", ["x", "zero", "half", "last"], ["x1"], name="slice_first_half"),
        helper.make_node("Slice", ["x", "half", "end", "last"], ["x2"], name="slice_second_half"),
        helper.make_node("Neg", ["x2"], ["neg_x2"], name="neg"),
        helper.make_node("Concat", ["neg_x2", "x1"], ["rotated"], axis=-1, name="rotate_half"),
        helper.make_node("Mul", ["x", "cos"], ["x_cos"], name="mul_cos"),
        helper.make_node("Mul", ["rotated", "sin"], ["rot_sin"], name="mul_sin"),
        helper.make_node("Add", ["x_cos", "rot_sin"], ["out"], name="add"),
    ]
    return make_model("rope", nodes, [vi("x", [b, h, s, d])], [vi("out", [b, h, s, d])], inits)


def swiglu(rows, inter):
    """SwiGLU on the fused gate-and-up projection [rows, 2 * inter]: gate and up as two Slices,
    silu written x * sigmoid(x) (how the exporter writes F.silu), out = silu(gate) * up."""
    inits = [i64("zero", [0]), i64("mid", [inter]), i64("end", [2 * inter]), i64("last", [-1])]
    nodes = [
        helper.make_node("Slice", ["x", "zero", "mid", "last"], ["gate"], name="slice_gate"),
        helper.make_node("Slice", ["x", "mid", "end", "last"], ["up"], name="slice_up"),
        helper.make_node("Sigmoid", ["gate"], ["sig"], name="sigmoid"),
        helper.make_node("Mul", ["gate", "sig"], ["silu"], name="silu"),
        helper.make_node("Mul", ["silu", "up"], ["out"], name="gate_mul_up"),
    ]
    return make_model("swiglu", nodes, [vi("x", [rows, 2 * inter])], [vi("out", [rows, inter])], inits)


# ---------------------------------------------------------------------------------------------
# Kernel rows: shapes, the graph, the work done, the reference
# ---------------------------------------------------------------------------------------------

class KernelSpec:
    """One kernel row: its graph, its inputs' shapes and the work it does (FLOPs or bytes)."""

    def __init__(self, name, build, inputs, flops=None, nbytes=None, note=None):
        self.name, self.build, self.inputs = name, build, inputs
        self.flops, self.nbytes, self.note = flops, nbytes, note


def attention_flops(b, h, sq, skv, d, causal):
    f = 4.0 * b * h * sq * skv * d
    return f / 2 if causal else f


def kernel_specs(small=False):
    """The kernel rows, at the issue's shapes or (small) at shapes the CPU interpreter runs."""
    if small:
        A = dict(b=1, h=2, s=64, d=32)
        D = dict(b=2, h=4, kvh=2, s=64, d=32)
        R = (8, 64)
        P = dict(b=1, s=16, h=2, d=16)
        S = (8, 32)
    else:
        A = dict(b=4, h=16, s=4096, d=128)
        D = dict(b=8, h=32, kvh=8, s=8192, d=128)
        R = (16384, 4096)
        P = dict(b=4, s=4096, h=32, d=128)
        S = (16384, 11008)
    specs = []
    for causal in (True, False):
        name = "attention_causal_b4_h16_s4096_d128" if causal else "attention_b4_h16_s4096_d128"
        b, h, s, d = A["b"], A["h"], A["s"], A["d"]
        specs.append(KernelSpec(
            name, lambda b=b, h=h, s=s, d=d, c=causal: attention(b, h, s, d, c),
            {"q": (b, h, s, d), "k": (b, h, s, d), "v": (b, h, s, d)},
            flops=attention_flops(b, h, s, s, d, causal)))
    b, h, kvh, s, d = D["b"], D["h"], D["kvh"], D["s"], D["d"]
    specs.append(KernelSpec(
        "attention_decode_b8_h32_kv8_s8192_d128",
        lambda b=b, h=h, s=s, d=d, kvh=kvh: attention(b, h, s, d, False, kv_heads=kvh, sq=1),
        {"q": (b, h, 1, d), "k": (b, kvh, s, d), "v": (b, kvh, s, d)},
        flops=attention_flops(b, h, 1, s, d, False),
        # Bound by reading K and V once; q and the output are negligible.
        nbytes=2 * (2 * b * kvh * s * d + 2 * b * h * d)))
    rows, hidden = R
    specs.append(KernelSpec("rmsnorm_16384x4096", lambda rows=rows, hidden=hidden: rmsnorm(rows, hidden), {"x": (rows, hidden)},
                            nbytes=2 * (2 * rows * hidden + hidden)))
    b, s, h, d = P["b"], P["s"], P["h"], P["d"]
    specs.append(KernelSpec("rope_b4_s4096_h32_d128", lambda b=b, s=s, h=h, d=d: rope(b, s, h, d), {"x": (b, h, s, d)},
                            nbytes=2 * (2 * b * h * s * d + 2 * s * d),
                            note="one [b, h, s, d] tensor (q) rotated; cos/sin tables [1, 1, s, d]"))
    rows, inter = S
    specs.append(KernelSpec("swiglu_16384x11008", lambda rows=rows, inter=inter: swiglu(rows, inter), {"x": (rows, 2 * inter)},
                            nbytes=2 * (rows * 2 * inter + rows * inter)))
    return specs


def reference(name, model, feeds):
    """numpy float64 reference of a kernel row's graph on bf16-valued float32 `feeds`, read from
    the graph's own constants; the result is rounded to bf16 like the graph's output."""
    consts = {t.name: (bf16_array(t) if t.data_type == BF16 else onnx.numpy_helper.to_array(t))
              for t in model.graph.initializer}
    if name.startswith("attention"):
        q, k, v = (feeds[n].astype(np.float64) for n in ("q", "k", "v"))
        rep = q.shape[1] // k.shape[1]
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
        s = q @ np.swapaxes(k, -1, -2) * float(consts["scale"])
        if "causal_mask" in consts:
            s = s + consts["causal_mask"].astype(np.float64)
        s = s - s.max(-1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(-1, keepdims=True)
        return round_bf16(p @ v)
    if name.startswith("rmsnorm"):
        x = feeds["x"].astype(np.float64)
        n = x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6)
        return round_bf16(consts["weight"].astype(np.float64) * n)
    if name.startswith("rope"):
        x = feeds["x"].astype(np.float64)
        half = x.shape[-1] // 2
        rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        return round_bf16(x * consts["cos"] + rot * consts["sin"])
    if name.startswith("swiglu"):
        x = feeds["x"].astype(np.float64)
        inter = x.shape[-1] // 2
        g, u = x[..., :inter], x[..., inter:]
        return round_bf16(g / (1.0 + np.exp(-g)) * u)
    raise ValueError(name)


def write_test_folder(spec, folder, seed=0):
    """The row's graph in the ONNX backend-test layout (model.onnx, test_data_set_0/ with bf16
    inputs and the numpy reference output), for `spdc test` on the interpreter."""
    model = spec.build()
    os.makedirs(os.path.join(folder, "test_data_set_0"), exist_ok=True)
    onnx.save(model, os.path.join(folder, "model.onnx"))
    rng = np.random.default_rng(seed)
    feeds = {}
    for i, (n, shape) in enumerate(spec.inputs.items()):
        feeds[n] = round_bf16(rng.uniform(-1.0, 1.0, shape))
        with open(os.path.join(folder, "test_data_set_0", f"input_{i}.pb"), "wb") as f:
            f.write(bf16_tensor(n, feeds[n]).SerializeToString())
    out = reference(spec.name, model, feeds)
    with open(os.path.join(folder, "test_data_set_0", "output_0.pb"), "wb") as f:
        f.write(bf16_tensor("out", out).SerializeToString())
    return model
