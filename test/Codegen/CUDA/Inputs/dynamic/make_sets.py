"""Data sets of several shapes for the dynamic-shape exports in test/models.

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


if __name__ == "__main__":
    main()
