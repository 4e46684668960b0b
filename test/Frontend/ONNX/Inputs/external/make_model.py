#!/usr/bin/env python3
"""Writes a small model whose weights live in an external data file (two tensors in one file, at
non-zero offsets), in the backend-test layout, with onnxruntime's outputs as the reference."""

import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(0)
w1 = numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "w1")
w2 = numpy_helper.from_array(rng.standard_normal((16, 4)).astype(np.float32), "w2")
graph = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm1"),
     helper.make_node("Relu", ["h"], ["r"], name="relu"),
     helper.make_node("MatMul", ["r", "w2"], ["y"], name="mm2")],
    "external",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    initializer=[w1, w2])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
os.makedirs("test_data_set_0", exist_ok=True)
onnx.save(model, "model.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
          location="weights.bin", size_threshold=0)
x = rng.standard_normal((3, 8)).astype(np.float32)
y = ort.InferenceSession("model.onnx").run(None, {"x": x})[0]
open("test_data_set_0/input_0.pb", "wb").write(numpy_helper.from_array(x, "x").SerializeToString())
open("test_data_set_0/output_0.pb", "wb").write(numpy_helper.from_array(y, "y").SerializeToString())
