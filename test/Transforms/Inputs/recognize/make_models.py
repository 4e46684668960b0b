#!/usr/bin/env python3
"""Small ONNX graphs in the spellings exporters use for norms and activations that the bundled
HF exports do not cover (LayerNorm decomposed below opset 17, RMSNorm with Div(1, .) and f16
casts, Gemma's (1 + w), GELU in gelu_fast / 0.7071 forms, SiLU as x / (1 + exp(-x)), SwiGLU),
with symbolic batch and sequence dimensions. References come from onnx.reference. Regenerate
with `python3 make_models.py` in this folder; recognize-models.test runs them."""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

HIDDEN = 16
rng = np.random.default_rng(5)


def const(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def write(folder, nodes, inits, x, opset=13, elem=TensorProto.FLOAT, out_shape=None):
    shape = ["batch", "seq", x.shape[-1]]
    graph = helper.make_graph(
        nodes, folder, [helper.make_tensor_value_info("x", elem, shape)],
        [helper.make_tensor_value_info("y", elem, out_shape or shape)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    y = ReferenceEvaluator(model).run(None, {"x": x})[0]
    os.makedirs(f"{folder}/test_data_set_0", exist_ok=True)
    onnx.save(model, f"{folder}/model.onnx")
    with open(f"{folder}/test_data_set_0/input_0.pb", "wb") as f:
        f.write(numpy_helper.from_array(x, "x").SerializeToString())
    with open(f"{folder}/test_data_set_0/output_0.pb", "wb") as f:
        f.write(numpy_helper.from_array(y, "y").SerializeToString())


def node(op, inputs, outputs, **attrs):
    return helper.make_node(op, inputs, outputs, name=f"{op}_{outputs[0]}", **attrs)


x32 = rng.standard_normal((2, 5, HIDDEN)).astype(np.float32) * 2
w = rng.standard_normal(HIDDEN).astype(np.float32)
b = rng.standard_normal(HIDDEN).astype(np.float32)

# LayerNorm as the TorchScript exporter writes it below opset 17.
write("layer_norm_opset13", [
    node("ReduceMean", ["x"], ["m"], axes=[-1]),
    node("Sub", ["x", "m"], ["d"]),
    node("Pow", ["d", "two"], ["sq"]),
    node("ReduceMean", ["sq"], ["var"], axes=[-1]),
    node("Add", ["var", "eps"], ["ve"]),
    node("Sqrt", ["ve"], ["sd"]),
    node("Div", ["d", "sd"], ["n"]),
    node("Mul", ["n", "g"], ["ng"]),
    node("Add", ["ng", "b"], ["y"]),
], [const("two", np.float32(2)), const("eps", np.float32(1e-5)), const("g", w),
    const("b", b)], x32)

# RMSNorm (T5 / LLaMA TorchScript): x * (1 / sqrt(mean(x * x) + eps)) * w.
write("rms_norm_div_one", [
    node("Mul", ["x", "x"], ["sq"]),
    node("ReduceMean", ["sq"], ["ms"], axes=[-1]),
    node("Add", ["ms", "eps"], ["me"]),
    node("Sqrt", ["me"], ["r"]),
    node("Div", ["one", "r"], ["inv"]),
    node("Mul", ["x", "inv"], ["n"]),
    node("Mul", ["w", "n"], ["y"]),
], [const("eps", np.float32(1e-6)), const("one", np.float32(1)), const("w", w)], x32)

# Gemma in fp16: x.float(), normalize, * (1 + w.float()), cast back. Wider than the importer
# inlines (64 elements), so that the folded (1 + w) is a new resource blob.
WIDE = 96
x16 = (rng.standard_normal((2, 5, WIDE)) * 2).astype(np.float16)
write("rms_norm_gemma_fp16", [
    node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
    node("Pow", ["xf", "two"], ["sq"]),
    node("ReduceMean", ["sq"], ["ms"], axes=[-1]),
    node("Add", ["ms", "eps"], ["me"]),
    node("Sqrt", ["me"], ["r"]),
    node("Reciprocal", ["r"], ["inv"]),
    node("Mul", ["xf", "inv"], ["n"]),
    node("Cast", ["w16"], ["wf"], to=TensorProto.FLOAT),
    node("Add", ["one", "wf"], ["ow"]),
    node("Mul", ["n", "ow"], ["nw"]),
    node("Cast", ["nw"], ["y"], to=TensorProto.FLOAT16),
], [const("two", np.float32(2)), const("eps", np.float32(1e-6)), const("one", np.float32(1)),
    const("w16", (rng.standard_normal(WIDE) * 0.1).astype(np.float16))], x16,
      elem=TensorProto.FLOAT16)

# GELU (erf with Mul by 0.7071), then gelu_fast's tanh form, then SiLU as x / (1 + exp(-x)).
write("activations", [
    node("Mul", ["x", "rsqrt2"], ["e0"]),
    node("Erf", ["e0"], ["e1"]),
    node("Add", ["e1", "one"], ["e2"]),
    node("Mul", ["half", "x"], ["hx"]),
    node("Mul", ["hx", "e2"], ["g1"]),
    node("Mul", ["g1", "k"], ["t0"]),
    node("Mul", ["c", "g1"], ["t1"]),
    node("Mul", ["t1", "g1"], ["t2"]),
    node("Add", ["one", "t2"], ["t3"]),
    node("Mul", ["t0", "t3"], ["t4"]),
    node("Tanh", ["t4"], ["t5"]),
    node("Add", ["t5", "one"], ["t6"]),
    node("Mul", ["g1", "t6"], ["t7"]),
    node("Mul", ["t7", "half"], ["g2"]),
    node("Neg", ["g2"], ["s0"]),
    node("Exp", ["s0"], ["s1"]),
    node("Add", ["s1", "one"], ["s2"]),
    node("Div", ["g2", "s2"], ["y"]),
], [const("rsqrt2", np.float32(0.70710678)), const("one", np.float32(1)),
    const("half", np.float32(0.5)), const("k", np.float32(0.7978845608)),
    const("c", np.float32(0.044715))], x32)

# SwiGLU from one fused gate/up projection split in two (Phi-3 style), up * silu(gate).
wgu = (rng.standard_normal((HIDDEN, 2 * HIDDEN)) * 0.3).astype(np.float32)
write("swiglu_split", [
    node("MatMul", ["x", "wgu"], ["gu"]),
    node("Split", ["gu", "sizes"], ["gate", "up"], axis=-1),
    node("Sigmoid", ["gate"], ["sg"]),
    node("Mul", ["gate", "sg"], ["act"]),
    node("Mul", ["up", "act"], ["y"]),
], [const("wgu", wgu), const("sizes", np.array([HIDDEN, HIDDEN], np.int64))], x32)
