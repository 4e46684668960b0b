"""Dynamic batch and sequence on the GPU: one bundle against PyTorch at several shapes, and its
latency against a bundle compiled for one shape.

    python3 bench/dynamic_shapes.py --spdc .device/bin/spdc --out DIR [--layers 4]

Exports an HF Llama (2048 wide, 32 heads, 8 KV heads, 8192 intermediate, vocab 32000, random
weights; --layers of them) with TorchScript and dynamic batch and sequence axes, writes data sets
of several shapes with PyTorch's (f32, on the GPU) outputs, then:
  1. spdc test --dynamic-shapes --target=cuda: one bundle, every shape, f32 and bf16 (and how
     many of PyTorch's own bf16 logits are as far from its f32 ones);
  2. spdc bench of the bf16 dynamic bundle at B1 S2048 and of a bf16 bundle compiled with
     --input-shape for that shape, in the same run, and prints the ratio.
spdc gets SPDC_LD_LIBRARY_PATH (the staged libraries) as its LD_LIBRARY_PATH."""
import argparse
import json
import os
import subprocess
import time

import numpy as np
import torch
import transformers as T
from onnx import numpy_helper

SHAPES = [(1, 1), (1, 37), (3, 129), (2, 512), (1, 2048)]


def spdc(args, *cmd, check=True):
    env = dict(os.environ)
    if "SPDC_LD_LIBRARY_PATH" in env:
        env["LD_LIBRARY_PATH"] = env["SPDC_LD_LIBRARY_PATH"]
    t = time.time()
    r = subprocess.run([args.spdc, *cmd], env=env, capture_output=True, text=True)
    out = r.stdout + r.stderr
    print(f"$ spdc {' '.join(cmd)}  ({time.time() - t:.1f} s, exit {r.returncode})")
    print("\n".join(out.strip().splitlines()[-12:]))
    if check and r.returncode:
        raise SystemExit(f"spdc failed: {' '.join(cmd)}")
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--spdc", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--layers", type=int, default=4)
    args = p.parse_args()
    folder = os.path.join(args.out, "llama_dynamic")
    os.makedirs(folder, exist_ok=True)
    cfg = T.AutoConfig.for_model("llama", hidden_size=2048, num_hidden_layers=args.layers,
                                 num_attention_heads=32, num_key_value_heads=8,
                                 intermediate_size=8192, vocab_size=32000,
                                 max_position_embeddings=4096)
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    model = T.AutoModelForCausalLM.from_config(cfg).eval()

    class Logits(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, ids, mask):
            return self.m(input_ids=ids, attention_mask=mask, use_cache=False).logits

    wrapped = Logits(model).eval()
    ids = torch.randint(0, 32000, (2, 16))
    mask = torch.ones_like(ids)
    t = time.time()
    with torch.no_grad():
        torch.onnx.export(wrapped, (ids, mask), os.path.join(folder, "model.onnx"),
                          input_names=["input_ids", "attention_mask"], output_names=["out"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                                        "attention_mask": {0: "batch", 1: "seq"},
                                        "out": {0: "batch", 1: "seq"}},
                          opset_version=17, dynamo=False)
    print(f"exported {sum(x.numel() for x in model.parameters()) / 1e6:.0f}M parameters "
          f"in {time.time() - t:.1f} s")
    gpu = wrapped.cuda()
    gpu16 = Logits(T.AutoModelForCausalLM.from_config(cfg).eval()).eval()
    gpu16.load_state_dict(wrapped.state_dict())
    gpu16 = gpu16.to(torch.bfloat16).cuda()
    beyond, total = 0, 0
    g = torch.Generator().manual_seed(1)
    for n, (b, s) in enumerate(SHAPES):
        ids = torch.randint(0, 32000, (b, s), generator=g)
        mask = torch.ones_like(ids)
        if b > 1:
            mask[-1, s - s // 4:] = 0
        with torch.no_grad():
            ref = gpu(ids.cuda(), mask.cuda()).float().cpu().numpy()
            bf = gpu16(ids.cuda(), mask.cuda()).float().cpu().numpy()
        # PyTorch's own bf16 forward against its f32 one, at the bf16 test's tolerance: how far
        # bf16 storage alone moves this random-weight model.
        beyond += int((np.abs(bf - ref) > 5e-2 + 5e-2 * np.abs(ref)).sum())
        total += ref.size
        d = os.path.join(folder, f"test_data_set_{n}")
        os.makedirs(d, exist_ok=True)
        for k, (name, x) in enumerate([("input_ids", ids), ("attention_mask", mask)]):
            with open(os.path.join(d, f"input_{k}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(x.numpy(), name).SerializeToString())
        with open(os.path.join(d, "output_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(ref, "out").SerializeToString())
    del gpu, gpu16
    torch.cuda.empty_cache()

    results = {"torch_bf16_elements_beyond_5e-2": f"{beyond} of {total}"}
    out = spdc(args, "test", folder, "--dynamic-shapes", "--pipeline=default", "--target=cuda",
               "--rtol", "1e-3", "--atol", "1e-3", check=False)
    results["test_f32"] = out.strip().splitlines()[-1]
    out = spdc(args, "test", folder, "--dynamic-shapes", "--pipeline=default", "--target=cuda",
               "--dtype=bf16", "--rtol", "5e-2", "--atol", "5e-2", check=False)
    results["test_bf16"] = out.strip().splitlines()[-1]

    model_path = os.path.join(folder, "model.onnx")
    dyn = os.path.join(args.out, "dynamic.spdc")
    static = os.path.join(args.out, "static.spdc")
    spdc(args, model_path, "--dtype=bf16", "-o", dyn, "--no-cache")
    spdc(args, model_path, "--dtype=bf16", "-o", static, "--no-cache",
         "--input-shape=input_ids:1x2048", "--input-shape=attention_mask:1x2048")
    for name, bundle, extra in [("dynamic", dyn, ["--input-shape=input_ids:1x2048",
                                                  "--input-shape=attention_mask:1x2048"]),
                                ("static", static, [])]:
        js = os.path.join(args.out, f"bench-{name}.json")
        spdc(args, "bench", bundle, "--iters", "50", f"--json={js}", *extra)
        with open(js) as f:
            results[f"{name}_ms"] = json.load(f)["median_ms"]
    results["dynamic_over_static"] = results["dynamic_ms"] / results["static_ms"]
    print(json.dumps(results, indent=1))
    with open(os.path.join(args.out, "dynamic-shapes.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
