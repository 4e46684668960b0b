"""Data sets of several shapes for the dynamic-shape exports in test/models, and a small
attention model with a dynamic batch and sequence (attention_d64_dynamic, written here).

One bundle compiled with the exports' dynamic batch and sequence must run every set (spdc test
--dynamic-shapes): the shapes differ in both symbols, and masks of several rows end in padding
(only trailing padding: GPT-J's export gathers its rotary table at the mask's cumulative sum,
which leading padding sends out of range). References are onnxruntime's (CPU). Run from this
folder: python3 make_sets.py
"""
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

MODELS = ["llama_ts_eager_padded_dynamic", "gptj_ts_eager_padded_dynamic"]
# (batch, sequence): a single token, odd lengths, several attention row tiles (GPT-J's rotary
# table holds 64 positions).
SHAPES = [(1, 1), (1, 7), (3, 5), (2, 33), (4, 60)]


def write(path, name, array):
    t = numpy_helper.from_array(array, name)
    with open(path, "wb") as f:
        f.write(t.SerializeToString())


def main():
    rng = np.random.default_rng(1234)
    for model in MODELS:
        src = os.path.join("..", "..", "..", "..", "models", model, "model.onnx")
        os.makedirs(model, exist_ok=True)
        link = os.path.join(model, "model.onnx")
        if not os.path.lexists(link):
            os.symlink(os.path.join("..", src), link)
        sess = ort.InferenceSession(link, providers=["CPUExecutionProvider"])
        vocab = 128
        for n, (b, s) in enumerate(SHAPES):
            ids = rng.integers(0, vocab, size=(b, s), dtype=np.int64)
            mask = np.ones((b, s), dtype=np.int64)
            if b > 1 and s > 2:
                mask[-1, s - s // 3:] = 0  # the last row ends in padding
            out = sess.run(None, {"input_ids": ids, "attention_mask": mask})
            d = os.path.join(model, f"test_data_set_{n}")
            os.makedirs(d, exist_ok=True)
            write(os.path.join(d, "input_0.pb"), "input_ids", ids)
            write(os.path.join(d, "input_1.pb"), "attention_mask", mask)
            for i, (o, a) in enumerate(zip(sess.get_outputs(), out)):
                write(os.path.join(d, f"output_{i}.pb"), o.name, a)


def attention_model():
    """Attention over a fused QKV projection with a dynamic batch and sequence, head dim 64 (2
    heads): the warp-specialized kernel, whose tensor maps on sm_90a take the symbols in their
    dimensions and strides. Weights from a fixed seed; the model is written here."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(99)
    hidden, heads, dim = 128, 2, 64
    inits = [
        numpy_helper.from_array((rng.standard_normal((hidden, 3 * hidden)) * 0.1).astype(np.float32), "w_qkv"),
        numpy_helper.from_array(np.array([hidden] * 3, dtype=np.int64), "sizes"),
        numpy_helper.from_array(np.array([0, 0, heads, dim], dtype=np.int64), "heads_shape"),
        numpy_helper.from_array(np.array([0, 0, hidden], dtype=np.int64), "merged_shape"),
        numpy_helper.from_array(np.array(1.0 / np.sqrt(dim), dtype=np.float32), "scale"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w_qkv"], ["qkv"], name="qkv_proj"),
        helper.make_node("Split", ["qkv", "sizes"], ["q2", "k2", "v2"], axis=2, name="split"),
    ]
    for n in ("q", "k", "v"):
        nodes += [
            helper.make_node("Reshape", [f"{n}2", "heads_shape"], [f"{n}3"], name=f"{n}_view"),
            helper.make_node("Transpose", [f"{n}3"], [n], perm=[0, 2, 1, 3], name=f"{n}_heads"),
        ]
    nodes += [
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2], name="k_t"),
        helper.make_node("MatMul", ["q", "kt"], ["s"], name="scores"),
        helper.make_node("Mul", ["s", "scale"], ["s2"], name="scaled"),
        helper.make_node("Softmax", ["s2"], ["p"], axis=-1, name="softmax"),
        helper.make_node("MatMul", ["p", "v"], ["o"], name="pv"),
        helper.make_node("Transpose", ["o"], ["o2"], perm=[0, 2, 1, 3], name="o_back"),
        helper.make_node("Reshape", ["o2", "merged_shape"], ["y"], name="merge"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", hidden])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", hidden])
    graph = helper.make_graph(nodes, "attention_d64_dynamic", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    name = "attention_d64_dynamic"
    os.makedirs(name, exist_ok=True)
    onnx.save(model, os.path.join(name, "model.onnx"))
    sess = ort.InferenceSession(os.path.join(name, "model.onnx"), providers=["CPUExecutionProvider"])
    # Rows that end a 128-row query tile early, one row, several tiles.
    for n, (b, s) in enumerate([(1, 1), (2, 37), (3, 130), (1, 300)]):
        xv = rng.uniform(-1, 1, size=(b, s, hidden)).astype(np.float32)
        d = os.path.join(name, f"test_data_set_{n}")
        os.makedirs(d, exist_ok=True)
        write(os.path.join(d, "input_0.pb"), "x", xv)
        write(os.path.join(d, "output_0.pb"), "y", sess.run(None, {"x": xv})[0])


if __name__ == "__main__":
    main()
    attention_model()
