#!/usr/bin/env python3
"""Writes the corpus of malformed and unsupported models that test/Frontend/ONNX/bad-input.test
feeds to spdc. Run from this folder; the outputs are checked in so tests need no Python."""

import random

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def model(nodes, inputs, outputs, inits=(), opset=18):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def save(m, name):
    with open(name, "wb") as f:
        f.write(m.SerializeToString())


x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])

good = model([helper.make_node("Relu", ["x"], ["y"], name="relu0")], [x], [y])
data = good.SerializeToString()

open("empty.onnx", "wb").close()
with open("truncated.onnx", "wb") as f:
    f.write(data[: len(data) // 2])
rng = random.Random(7)
with open("random.onnx", "wb") as f:
    f.write(bytes(rng.randrange(256) for _ in range(512)))

# Ops spdc does not know, several kinds, several nodes: all must be listed at once.
save(model([helper.make_node("Relu", ["x"], ["a"], name="ok0"),
            helper.make_node("FooBar", ["a"], ["b"], name="foo0"),
            helper.make_node("FooBar", ["b"], ["c"], name="foo1"),
            helper.make_node("Qux", ["c"], ["y"], name="qux0")], [x], [y]),
     "unknown-ops.onnx")

# A node reading a value nothing defines.
save(model([helper.make_node("Add", ["x", "ghost"], ["y"], name="add_ghost")], [x], [y]),
     "dangling-input.onnx")

# Two nodes feeding each other.
save(model([helper.make_node("Relu", ["b"], ["a"], name="cyc_a"),
            helper.make_node("Relu", ["a"], ["b"], name="cyc_b"),
            helper.make_node("Add", ["x", "b"], ["y"], name="out")], [x], [y]),
     "cyclic.onnx")

# Shapes that cannot broadcast: [2,3] + [4].
w = numpy_helper.from_array(np.ones([4], np.float32), "w")
save(model([helper.make_node("Add", ["x", "w"], ["y"], name="add_bad_shape")], [x], [y], [w]),
     "inconsistent-shapes.onnx")

# An input with an absurd static dimension.
huge = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1 << 40, 1 << 40])
save(model([helper.make_node("Relu", ["x"], ["y"], name="relu_huge")], [huge], [y]),
     "absurd-dims.onnx")

# An initializer that claims 2^40 elements but carries 4 bytes.
t = TensorProto()
t.name = "w"
t.data_type = TensorProto.FLOAT
t.dims.extend([1 << 20, 1 << 20])
t.raw_data = b"\0\0\0\0"
save(model([helper.make_node("Add", ["x", "w"], ["y"], name="add_short")], [x], [y], [t]),
     "short-initializer.onnx")

# Weights in an external file that is not there.
t = TensorProto()
t.name = "w"
t.data_type = TensorProto.FLOAT
t.dims.extend([2, 3])
t.data_location = TensorProto.EXTERNAL
for k, v in (("location", "weights-missing.bin"), ("offset", "0"), ("length", "24")):
    e = t.external_data.add()
    e.key, e.value = k, v
save(model([helper.make_node("Add", ["x", "w"], ["y"], name="add_ext")], [x], [y], [t]),
     "missing-external-data.onnx")

# Weights in an external file that is too short for them.
with open("short-external.bin", "wb") as f:
    f.write(b"\0" * 8)
t.external_data[0].value = "short-external.bin"
save(model([helper.make_node("Add", ["x", "w"], ["y"], name="add_ext_short")], [x], [y], [t]),
     "short-external-data.onnx")

# An opset spdc does not know.
save(model([helper.make_node("Relu", ["x"], ["y"], name="relu_new")], [x], [y], opset=99),
     "future-opset.onnx")

# A Transpose whose perm is not a permutation.
save(model([helper.make_node("Transpose", ["x"], ["y"], name="bad_perm", perm=[0, 0])], [x], [y]),
     "bad-attribute.onnx")
