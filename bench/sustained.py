#!/usr/bin/env python3
"""Clocks and power under sustained load: spdc's attention against cuDNN's, one after the other.

Runs the attention row's bundle with `spdc bench --iters N` (back to back) and torch's cuDNN
SDPA on the same shape for as many back-to-back calls, each while nvidia-smi samples the SM
clock and the power draw every 50 ms, and prints per side: the median time per run and the
samples' median clock and power over the busy part. Tells whether a kernel slows down under
sustained work because the GPU clocks down (power or temperature), and whether one side draws
more power for the same work.

    python3 bench/sustained.py --spdc .device/bin/spdc --bundle WORK/kernels/attention_b4_h16_s4096_d128/model.spdc

With --attprof (an attention_profile build, bench/kernels/attention_profile.cu) the same kernel
also runs from that harness as many times back to back, once on uniform random inputs and once
on `spdc bench`'s made-up pattern, so that a gap between the harness and the suite can be put
on the inputs or on the load.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


class Sampler:
    """nvidia-smi in the background: (seconds since start, SM MHz, watts) every 50 ms."""

    def __enter__(self):
        self.file = tempfile.NamedTemporaryFile("w+", suffix=".csv", delete=False)
        self.proc = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=clocks.sm,power.draw", "--format=csv,noheader,nounits",
             "-lms", "50"], stdout=self.file, stderr=subprocess.DEVNULL)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()
        self.file.seek(0)
        self.samples = []
        for line in self.file.read().splitlines():
            try:
                mhz, watts = (float(x) for x in line.split(","))
                self.samples.append((mhz, watts))
            except ValueError:
                pass
        os.unlink(self.file.name)

    def busy(self):
        """Samples while the GPU works (power above half the peak seen)."""
        if not self.samples:
            return []
        peak = max(w for _, w in self.samples)
        return [s for s in self.samples if s[1] > peak / 2]


def summary(name, ms, sampler):
    busy = sampler.busy()
    if not busy:
        return f"{name}: {ms:.4f} ms/run, no clock samples"
    return (f"{name}: {ms:.4f} ms/run; {len(busy)} busy samples: SM clock median "
            f"{statistics.median(s[0] for s in busy):.0f} MHz (min {min(s[0] for s in busy):.0f}), "
            f"power median {statistics.median(s[1] for s in busy):.0f} W "
            f"(max {max(s[1] for s in busy):.0f})")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spdc", required=True)
    p.add_argument("--bundle", required=True)
    p.add_argument("--iters", type=int, default=3000)
    p.add_argument("--shape", default="4,16,4096,128", help="B,H,S,D of the bundle's attention")
    p.add_argument("--causal", action="store_true")
    p.add_argument("--attprof", help="attention_profile binary: also time its tensor-copy kernel")
    args = p.parse_args()

    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    env = dict(os.environ)
    if env.get("SPDC_LD_LIBRARY_PATH"):
        env["LD_LIBRARY_PATH"] = env["SPDC_LD_LIBRARY_PATH"]
    with Sampler() as s:
        subprocess.run([args.spdc, "bench", args.bundle, "--iters", str(args.iters),
                        f"--json={path}"], check=True, env=env, stdout=subprocess.DEVNULL)
    with open(path) as f:
        r = json.load(f)
    os.unlink(path)
    print(summary("spdc bench (back to back)", r["median_ms"], s), flush=True)

    if args.attprof:
        # attention_profile's rows 0 and 1 are this suite's non-causal and causal shapes; its
        # arguments: row, tensor-copy kernel, inputs (0 random, 1 the pattern), launches.
        for inputs, name in ((0, "random"), (1, "spdc bench's pattern")):
            with Sampler() as s:
                line = subprocess.run([args.attprof, "1" if args.causal else "0", "1",
                                       str(inputs), str(args.iters)], check=True,
                                      capture_output=True, text=True).stdout.strip().splitlines()[-1]
            m = re.search(r"back to back ([0-9.]+) ms", line)
            ms = float(m.group(1)) if m else float("nan")
            print(summary(f"attention_profile, {name} inputs (back to back)", ms, s), flush=True)

    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    b, h, n, d = (int(x) for x in args.shape.split(","))
    q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
        fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=args.causal)
        fn()
        torch.cuda.synchronize()
        import peers
        with Sampler() as s:
            ms = peers.back_to_back(fn, args.iters)
    print(summary("torch cuDNN SDPA (back to back)", ms, s), flush=True)


if __name__ == "__main__":
    main()
