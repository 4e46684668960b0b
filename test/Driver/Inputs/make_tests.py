#!/usr/bin/env python3
"""Backend-test folders for the `spdc test` runner's own tests: one that passes, one whose
reference is off in one element, one with an unsupported op."""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def write(folder, node, x, y):
    graph = helper.make_graph(
        [node], folder,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(y.shape))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    os.makedirs(f"{folder}/test_data_set_0", exist_ok=True)
    onnx.save(model, f"{folder}/model.onnx")
    open(f"{folder}/test_data_set_0/input_0.pb", "wb").write(
        numpy_helper.from_array(x, "x").SerializeToString())
    open(f"{folder}/test_data_set_0/output_0.pb", "wb").write(
        numpy_helper.from_array(y, "y").SerializeToString())


x = np.array([[-1.0, 2.0, -3.0], [4.0, -5.0, 6.0]], np.float32)
write("relu_pass", helper.make_node("Relu", ["x"], ["y"], name="r"), x, np.maximum(x, 0))
wrong = np.maximum(x, 0)
wrong[1, 2] = 6.5
write("relu_wrong", helper.make_node("Relu", ["x"], ["y"], name="r"), x, wrong)
write("unsupported", helper.make_node("Hardmax", ["x"], ["y"], name="hm"), x, x)
