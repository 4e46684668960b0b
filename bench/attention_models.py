"""Attention over a fused QKV projection, with onnxruntime reference outputs, in the ONNX
backend-test layout (model.onnx + test_data_set_0/input_N.pb, output_0.pb) that `spdc test`
reads.

    python3 bench/attention_models.py OUT_DIR

Each model projects its input [b, s, 32] to Q, K and V in one MatMul ([b, s, (h + 2 kvh) d],
so that with --dtype=bf16 the projection is a bf16 buffer too) and does what exporters write
after it: Split into Q, K and V, Reshape to heads, Transpose to [b, heads, s, d] (K straight to
[b, heads, d, s]), GQA through HF's repeat_kv, Q K^T, a constant scale, a causal or padding mask
through Where, Softmax, P V, and the Transpose and Reshape back to [b, s, h d]. The head dims
are the 128-row kernels' (64, 128): with --attention-in-place spdc reads Q, K and V out of the
input and writes the output in place; with --attention-ws they take the warp-specialized kernel.
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from decode_models import repeat_kv, write_case


def const(inits, name, value, dtype=np.int64):
    inits.append(numpy_helper.from_array(np.array(value, dtype), name))
    return name


def make(folder, b, s, h, kvh, d, mask, seed, softcap=None):
    """mask: None, "causal" (a constant lower-triangular Where) or "padding" (a [b, 1, 1, s]
    boolean input). softcap: Gemma 2's cap * tanh(scores / cap) after the scale."""
    nodes, inits = [], []
    e = (h + 2 * kvh) * d
    rng = np.random.default_rng(seed)
    # Weights of unit-variance outputs: 32 inputs in [-2, 2) (variance 4/3).
    w = (rng.standard_normal((32, e)) / np.sqrt(32 * 4 / 3)).astype(np.float32)
    inits.append(numpy_helper.from_array(w, "w_qkv"))
    nodes.append(helper.make_node("MatMul", ["x", "w_qkv"], ["qkv"], name="qkv_proj"))
    nodes.append(helper.make_node("Split", ["qkv", const(inits, "sizes", [h * d, kvh * d, kvh * d])],
                                  ["q2", "k2", "v2"], axis=2, name="qkv_split"))
    for name, heads in (("q", h), ("k", kvh), ("v", kvh)):
        nodes.append(helper.make_node("Reshape", [name + "2", const(inits, name + "_shape", [b, s, heads, d])],
                                      [name + "3"], name=name + "_view"))
    nodes += [helper.make_node("Transpose", ["q3"], ["q"], perm=[0, 2, 1, 3], name="q_transpose"),
              helper.make_node("Transpose", ["k3"], ["k"], perm=[0, 2, 1, 3], name="k_transpose"),
              helper.make_node("Transpose", ["v3"], ["v"], perm=[0, 2, 1, 3], name="v_transpose")]
    k, v = "k", "v"
    if h > kvh:
        k = repeat_kv("k", b, kvh, h // kvh, s, d, nodes, inits)
        v = repeat_kv("v", b, kvh, h // kvh, s, d, nodes, inits)
    nodes += [helper.make_node("Transpose", [k], ["kt"], perm=[0, 1, 3, 2], name="kt_transpose"),
              helper.make_node("MatMul", ["q", "kt"], ["s"], name="qk_matmul"),
              helper.make_node("Mul", ["s", const(inits, "scale", 1.0 / np.sqrt(d), np.float32)], ["s2"],
                               name="scale_mul")]
    scores = "s2"
    if softcap is not None:
        cap = const(inits, "softcap", softcap, np.float32)
        nodes += [helper.make_node("Div", ["s2", cap], ["s2d"], name="softcap_div"),
                  helper.make_node("Tanh", ["s2d"], ["s2t"], name="softcap_tanh"),
                  helper.make_node("Mul", ["s2t", cap], ["s2c"], name="softcap_mul")]
        scores = "s2c"
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [b, s, 32])]
    feeds = {"x": rng.uniform(-2, 2, (b, s, 32)).astype(np.float32)}
    if mask is not None:
        if mask == "causal":
            m = const(inits, "causal_mask", np.tril(np.ones((s, s), bool)), bool)
        else:
            m = "m"
            inputs.append(helper.make_tensor_value_info("m", TensorProto.BOOL, [b, 1, 1, s]))
            keep = np.ones((b, 1, 1, s), bool)
            for i in range(b):
                keep[i, ..., s - 17 * (i + 1):] = False  # right padding, longer per batch row
            feeds["m"] = keep
        nodes.append(helper.make_node("Where", [m, scores, const(inits, "ninf", -3.4e38, np.float32)], ["s3"],
                                      name="mask_where"))
        scores = "s3"
    nodes += [helper.make_node("Softmax", [scores], ["p"], axis=-1, name="p_softmax"),
              helper.make_node("MatMul", ["p", v], ["o"], name="pv_matmul"),
              helper.make_node("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3], name="o_transpose"),
              helper.make_node("Reshape", ["ot", const(inits, "y_shape", [b, s, h * d])], ["y"], name="o_view")]
    graph = helper.make_graph(nodes, "attention", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [b, s, h * d])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    write_case(folder, model, feeds, ["x", "m"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="folder to write the model folders into")
    out = parser.parse_args().out_dir
    make(os.path.join(out, "qkv_d64_causal_s150"), 2, 150, 2, 2, 64, "causal", 1)
    make(os.path.join(out, "qkv_d128_gqa_padded_s100"), 2, 100, 2, 1, 128, "padding", 2)
    make(os.path.join(out, "qkv_d64_gqa4_s140"), 1, 140, 4, 1, 64, None, 3)
    # Caps low enough to bend most scores (they have about unit variance).
    make(os.path.join(out, "qkv_d128_softcap_causal_s130"), 1, 130, 4, 2, 128, "causal", 4, softcap=2.0)
    make(os.path.join(out, "qkv_d64_softcap_padded_s90"), 2, 90, 2, 2, 64, "padding", 5, softcap=3.0)


if __name__ == "__main__":
    main()
