"""Decode-attention ONNX models with onnxruntime reference outputs, in the ONNX backend-test
layout (model.onnx + test_data_set_0/input_N.pb, output_0.pb) that `spdc test` reads.

    python3 bench/decode_models.py OUT_DIR

Each model is one query token (or a few) against a KV cache, written the way exporters write it:
Q K^T MatMul, a constant scale, an optional boolean mask through Where, Softmax, MatMul with V;
GQA through HF's repeat_kv (Unsqueeze, Expand, Reshape of K and V). spd-fuse-attention makes
them one spd.attention, which codegen sends to the split-KV decode kernels (qLen <= 4)."""
import argparse
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def repeat_kv(name, b, kvh, rep, s, d, nodes, inits):
    """HF repeat_kv: [b, kvh, s, d] -> [b, kvh * rep, s, d]."""
    inits += [numpy_helper.from_array(np.array([2], np.int64), name + "_ax"),
              numpy_helper.from_array(np.array([b, kvh, rep, s, d], np.int64), name + "_eshape"),
              numpy_helper.from_array(np.array([b, kvh * rep, s, d], np.int64), name + "_rshape")]
    nodes += [helper.make_node("Unsqueeze", [name, name + "_ax"], [name + "_u"], name=name + "_unsq"),
              helper.make_node("Expand", [name + "_u", name + "_eshape"], [name + "_e"], name=name + "_exp"),
              helper.make_node("Reshape", [name + "_e", name + "_rshape"], [name + "_r"], name=name + "_resh")]
    return name + "_r"


def write_case(folder, model, feeds, input_names):
    """model.onnx, the inputs `input_names` (those of them in feeds, in order) and onnxruntime's
    output y as test_data_set_0 of `folder`."""
    (y,) = ort.InferenceSession(model.SerializeToString()).run(None, feeds)
    data = os.path.join(folder, "test_data_set_0")
    os.makedirs(data, exist_ok=True)
    onnx.save(model, os.path.join(folder, "model.onnx"))
    for i, name in enumerate(n for n in input_names if n in feeds):
        with open(os.path.join(data, f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(feeds[name], name).SerializeToString())
    with open(os.path.join(data, "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(y, "y").SerializeToString())


def make(folder, b, h, kvh, sq, skv, d, masked, seed, softcap=None):
    """softcap: Gemma 2's cap * tanh(scores / cap) after the scale."""
    rep = h // kvh
    nodes, inits = [], []
    k, v = "k", "v"
    if rep > 1:
        k = repeat_kv("k", b, kvh, rep, skv, d, nodes, inits)
        v = repeat_kv("v", b, kvh, rep, skv, d, nodes, inits)
    inits.append(numpy_helper.from_array(np.array(1.0 / np.sqrt(d), np.float32), "scale"))
    nodes += [helper.make_node("Transpose", [k], ["kt"], perm=[0, 1, 3, 2], name="kt_transpose"),
              helper.make_node("MatMul", ["q", "kt"], ["s"], name="qk_matmul"),
              helper.make_node("Mul", ["s", "scale"], ["s2"], name="scale_mul")]
    scores = "s2"
    if softcap is not None:
        inits.append(numpy_helper.from_array(np.array(softcap, np.float32), "softcap"))
        nodes += [helper.make_node("Div", ["s2", "softcap"], ["s2d"], name="softcap_div"),
                  helper.make_node("Tanh", ["s2d"], ["s2t"], name="softcap_tanh"),
                  helper.make_node("Mul", ["s2t", "softcap"], ["s2c"], name="softcap_mul")]
        scores = "s2c"
    inputs = [helper.make_tensor_value_info("q", TensorProto.FLOAT, [b, h, sq, d]),
              helper.make_tensor_value_info("k", TensorProto.FLOAT, [b, kvh, skv, d]),
              helper.make_tensor_value_info("v", TensorProto.FLOAT, [b, kvh, skv, d])]
    if masked:
        inputs.append(helper.make_tensor_value_info("m", TensorProto.BOOL, [b, 1, sq, skv]))
        inits.append(numpy_helper.from_array(np.array(-3.4e38, np.float32), "ninf"))
        nodes.append(helper.make_node("Where", ["m", scores, "ninf"], ["s3"], name="mask_where"))
        scores = "s3"
    nodes += [helper.make_node("Softmax", [scores], ["p"], axis=-1, name="p_softmax"),
              helper.make_node("MatMul", ["p", v], ["y"], name="pv_matmul")]
    graph = helper.make_graph(nodes, "decode", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [b, h, sq, d])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    rng = np.random.default_rng(seed)
    feeds = {"q": rng.uniform(-2, 2, (b, h, sq, d)).astype(np.float32),
             "k": rng.uniform(-2, 2, (b, kvh, skv, d)).astype(np.float32),
             "v": rng.uniform(-2, 2, (b, kvh, skv, d)).astype(np.float32)}
    if masked:
        m = rng.uniform(0, 1, (b, 1, sq, skv)) > 0.25
        m[..., 0] = True  # every row sees a key: ONNX Softmax of an all -3.4e38 row is uniform
        feeds["m"] = m
    write_case(folder, model, feeds, ["q", "k", "v", "m"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="folder to write the model folders into")
    out = parser.parse_args().out_dir
    # GQA group 4, one token, long cache (split into chunks + combine).
    make(os.path.join(out, "decode_gqa4_s260"), 1, 8, 2, 1, 260, 128, False, 1)
    # Equal heads, masked, kvLen not a multiple of anything. (Sizes keep the staged data small.)
    make(os.path.join(out, "decode_mha_masked_s333"), 1, 2, 2, 1, 333, 64, True, 2)
    # Three query tokens (speculative decode), group 8.
    make(os.path.join(out, "decode_gqa8_q3_s300"), 1, 8, 1, 3, 300, 64, False, 3)
    # Soft-capped (Gemma 2) at a cap that bends most scores, masked, over several chunks.
    make(os.path.join(out, "decode_softcap_gqa4_s400"), 1, 8, 2, 1, 400, 128, True, 4, softcap=2.0)


if __name__ == "__main__":
    main()
