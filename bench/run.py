#!/usr/bin/env python3
"""spdc's benchmark suite: every row of the performance issue, spdc against its peers, measured
in one run on the GPU machine. Prints a ratio table and writes
bench/results/<YYYY-MM-DD>-<gpu>.json ({"device": ..., "results": [{"name", "spdc_ms", "peer",
"peer_ms", ...}]}), with a copy in --out-dir (or $OUT).

The spdc side of each row is an ONNX model compiled by spdc (`spdc model.onnx -o model.spdc
--dtype=bf16`) and timed by `spdc bench`, each run after a 256 MB scratch write as do_bench
clears L2 (its back-to-back times are recorded too); the peers are timed in this process with
torch (triton.testing.do_bench, median). A row that fails on either side is reported with its error
and the run goes on. See bench/README.md for the one command.

Order of work: the HF exports start in the background first (CPU only); meanwhile the kernel
rows' graphs are built and compiled. Timing starts once the exports are done, so that no
measurement shares the CPU with them.
"""
import argparse
import datetime
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import graphs  # noqa: E402  (numpy + onnx only)
from spdc_cli import Spdc, SpdcError  # noqa: E402

# -----------------------------------------------------------------------------------------------
# The rows
# -----------------------------------------------------------------------------------------------

KERNEL_PEERS = {
    "attention_causal_b4_h16_s4096_d128": ["torch_sdpa_cudnn", "torch_sdpa_flash"],
    "attention_b4_h16_s4096_d128": ["torch_sdpa_cudnn", "torch_sdpa_flash"],
    "attention_decode_b8_h32_kv8_s8192_d128": ["torch_sdpa_flash", "torch_sdpa_cudnn"],
    "rmsnorm_16384x4096": ["torch_compile", "torch_eager"],
    "rope_b4_s4096_h32_d128": ["torch_compile", "torch_eager"],
    "swiglu_16384x11008": ["torch_compile", "torch_eager"],
}

# HF models as export_hf_models.py makes them (its flags), full size and --small.
ARCHS = {
    "gpt2": {"arch": "gpt2", "layers": 12},
    "llama": {"arch": "llama", "layers": 16, "hidden": 2048, "heads": 32, "kv_heads": 8, "inter": 8192,
              "vocab": 32000},
}
SMALL_ARCHS = {
    "gpt2": {"arch": "gpt2", "layers": 2},
    "llama": {"arch": "llama", "layers": 2, "hidden": 256, "heads": 8, "kv_heads": 2, "inter": 512,
              "vocab": 1000},
}
SMALL_SEQ = 128

# name, arch, batch, seq, peers
MODEL_ROWS = [
    ("gpt2_124m_fwd_b1_s1024", "gpt2", 1, 1024, ["torch_compile", "torch_sdpa"]),
    ("gpt2_124m_fwd_b8_s1024", "gpt2", 8, 1024, ["torch_compile", "torch_sdpa"]),
    ("llama_1b_fwd_b1_s2048", "llama", 1, 2048, ["torch_compile"]),
]
# The compile rows time the GPT-2 of the b1 row.
COMPILE_ROWS = [("compile_gpt2_124m_cold", "cold_s"), ("compile_gpt2_124m_cached", "cached_s")]
COMPILE_MODEL = ("gpt2", 1, 1024)
COMPILE_PEER = "torch_compile_first_call"
# The compile rows precompile for the H100/H200 (the cubin that the runtime then loads).
COMPILE_ARCH = "sm_90a"

# Timing settings: (warm-up ms, repetition ms) for do_bench, iterations for spdc bench. Enough
# repeats for a stable median (hundreds of kernel runs, tens of model runs) at a few tenths of a
# second per measurement.
KERNEL_TIMING = (25, 200)
MODEL_TIMING = (50, 500)
KERNEL_ITERS = 200
MODEL_ITERS = 50
# triton.testing.do_bench writes 256 MB (its L2-clearing buffer) before each timed run of a peer;
# spdc bench does the same before each of its timed runs, and also reports them back to back.
FLUSH_MB = 256
CACHED_COMPILE_RUNS = 3
# The first-call process (import, model build, torch.compile of GPT-2: 15-40 s seen) is given up
# after this long.
FIRST_CALL_TIMEOUT_S = 240


def all_row_names():
    return (list(KERNEL_PEERS) + [r[0] for r in MODEL_ROWS] + [r[0] for r in COMPILE_ROWS])


# -----------------------------------------------------------------------------------------------
# Results
# -----------------------------------------------------------------------------------------------

class Row:
    """What one row measured: the spdc side once, each peer once; errors kept per side."""

    def __init__(self, name, peers):
        self.name, self.peers = name, peers
        self.spdc_ms = None
        self.spdc_error = None
        self.spdc_extra = {}
        self.peer_ms = {p: None for p in peers}
        self.peer_error = {}
        self.peer_extra = {p: {} for p in peers}
        self.flops = self.nbytes = None
        self.notes = []

    def entries(self):
        out = []
        for p in self.peers:
            e = {"name": self.name, "spdc_ms": _round(self.spdc_ms), "peer": p,
                 "peer_ms": _round(self.peer_ms[p])}
            if self.spdc_ms and self.peer_ms[p]:
                e["speedup"] = round(self.peer_ms[p] / self.spdc_ms, 3)
            for side, ms in (("spdc", self.spdc_ms), ("peer", self.peer_ms[p])):
                if ms:
                    if self.flops:
                        e[f"{side}_tflops"] = round(self.flops / (ms * 1e-3) / 1e12, 1)
                    if self.nbytes:
                        e[f"{side}_gbps"] = round(self.nbytes / (ms * 1e-3) / 1e9, 1)
            errors = []
            if self.spdc_error:
                errors.append(f"spdc: {self.spdc_error}")
            if p in self.peer_error:
                errors.append(f"{p}: {self.peer_error[p]}")
            if errors:
                e["error"] = "; ".join(errors)
            e.update({f"spdc_{k}": v for k, v in self.spdc_extra.items()})
            e.update({f"peer_{k}": v for k, v in self.peer_extra[p].items()})
            # Both sides also timed back to back (no flush between runs): their ratio too.
            b2b = (self.spdc_extra.get("back_to_back_median_ms"),
                   self.peer_extra[p].get("back_to_back_median_ms"))
            if all(b2b):
                e["speedup_back_to_back"] = round(b2b[1] / b2b[0], 3)
            # spdc timed by the peers' own do_bench (run_same_harness).
            same = self.spdc_extra.get("same_harness_ms")
            if same and self.peer_ms[p]:
                e["speedup_same_harness"] = round(self.peer_ms[p] / same, 3)
            if self.notes:
                e["note"] = "; ".join(self.notes)
            out.append(e)
        return out


def _free_torch_memory():
    """What the last measurement left on the GPU, given back (no-op without torch)."""
    try:
        import peers
        peers.free_memory()
    except Exception:  # noqa: BLE001
        pass


def _round(x, digits=4):
    return None if x is None else round(float(x), digits)


def gpu_slug(name):
    s = name.lower().replace("nvidia", "")
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-") or "unknown"


def rate_text(e):
    def num(v):
        return f"{v:.0f}" if v >= 100 else f"{v:.3g}"

    def one(side):
        if e.get(f"{side}_gbps") is not None:
            return f"{num(e[f'{side}_gbps'])} GB/s"
        if e.get(f"{side}_tflops") is not None:
            return f"{num(e[f'{side}_tflops'])} TFLOP/s"
        return ""
    return one("spdc"), one("peer")


def format_table(entries):
    head = ["name", "spdc ms", "peer", "peer ms", "speedup", "spdc rate", "peer rate",
            "back to back", "same harness"]
    rows = []
    for e in entries:
        sr, pr = rate_text(e)
        rows.append([e["name"], "-" if e["spdc_ms"] is None else f"{e['spdc_ms']:.4g}", e["peer"],
                     "-" if e["peer_ms"] is None else f"{e['peer_ms']:.4g}",
                     f"{e['speedup']:.2f}x" if "speedup" in e else "-", sr, pr,
                     f"{e['speedup_back_to_back']:.2f}x" if "speedup_back_to_back" in e else "",
                     f"{e['speedup_same_harness']:.2f}x" if "speedup_same_harness" in e else ""])
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: " | ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
    text = [line(head), "-+-".join("-" * w for w in widths)] + [line(r) for r in rows]
    errors = {}
    for e in entries:
        for part in e.get("error", "").split("; ") if "error" in e else []:
            errors.setdefault(e["name"], [])
            if part not in errors[e["name"]]:
                errors[e["name"]].append(part)
    if errors:
        text += ["", "errors:"]
        for name, parts in errors.items():
            text.append(f"  {name}:")
            text += [f"    {p[:300]}" for p in parts]
    return "\n".join(text)


# -----------------------------------------------------------------------------------------------
# The run
# -----------------------------------------------------------------------------------------------

class Run:
    def __init__(self, args):
        self.args = args
        self.t0 = time.perf_counter()
        self.work = args.work_dir or tempfile.mkdtemp(prefix="spdc-bench-")
        os.makedirs(self.work, exist_ok=True)
        self.export_dir = args.export_dir or os.path.join(self.work, "exports")
        os.makedirs(self.export_dir, exist_ok=True)
        env = dict(os.environ)
        # spdc's caches (bundles, the runtime's JIT) live in this run's folder; the compile rows
        # make their own fresh ones.
        env.setdefault("XDG_CACHE_HOME", os.path.join(self.work, "xdg-cache"))
        # The library path spdc needs (the staged Debian libraries), when the launcher keeps it
        # away from this python and its torch (bench/run-on-device.sh does).
        if os.environ.get("SPDC_LD_LIBRARY_PATH"):
            env["LD_LIBRARY_PATH"] = os.environ["SPDC_LD_LIBRARY_PATH"]
        self.spdc = Spdc(os.path.abspath(args.spdc), env=env,
                         compile_flags=shlex.split(args.spdc_flags or ""))
        self.archs = SMALL_ARCHS if args.small else ARCHS
        self.rows = {}
        self.exports = {}  # key -> (Popen, log path, started)
        self.models = {}   # key -> dict(onnx, bundle, summary, note) or Exception
        self.log_lines = []
        self.written = []
        self.phases = {}
        self.device = None
        self.torch_ok = None
        self.same_harness = []  # (row, bundle, do_bench timing) for run_same_harness
        self.selected = [n for n in all_row_names() if re.search(args.only, n)] if args.only else all_row_names()

    # -- logging ----------------------------------------------------------------------------

    def log(self, msg):
        line = f"[{time.perf_counter() - self.t0:6.1f}s] {msg}"
        print(line, flush=True)
        self.log_lines.append(line)

    def phase(self, name):
        self.phases[name] = round(time.perf_counter() - self.t0, 1)
        self.log(f"== {name}")

    # -- torch --------------------------------------------------------------------------------

    def have_torch(self):
        if self.torch_ok is None:
            if self.args.dry_run:
                self.torch_ok = False
            else:
                try:
                    import torch  # noqa: F401
                    import triton  # noqa: F401
                    self.torch_ok = torch.cuda.is_available()
                except ImportError:
                    self.torch_ok = False
        return self.torch_ok

    def past_deadline(self, row):
        """True (and the row marked skipped) once the run is past --deadline: what is left is
        reported instead of being cut off by the machine's time limit mid-measurement."""
        elapsed = time.perf_counter() - self.t0
        if not self.args.deadline or elapsed < self.args.deadline:
            return False
        why = f"skipped: the run was {elapsed:.0f}s in, past --deadline {self.args.deadline}s"
        row.spdc_error = row.spdc_error or why
        for p in row.peers:
            if row.peer_ms[p] is None:
                row.peer_error.setdefault(p, why)
        self.log(f"{row.name}: {why}")
        return True

    def no_peer_reason(self):
        return "dry run: peers not timed" if self.args.dry_run else "torch with CUDA is not available"

    # -- exports ------------------------------------------------------------------------------

    def export_key(self, arch, batch, seq, dtype):
        return f"{arch}_b{batch}_s{seq}_{dtype}"

    def start_export(self, arch, batch, seq, dtype, threads):
        key = self.export_key(arch, batch, seq, dtype)
        out = os.path.join(self.export_dir, key)
        if key in self.exports or os.path.exists(os.path.join(out, "model.onnx")):
            return key
        if self.args.dry_run or not os.path.exists(self.args.export_script):
            self.exports[key] = None
            return key
        a = self.archs[arch]
        cmd = [sys.executable, self.args.export_script, "--arch", a["arch"], "--batch", str(batch),
               "--seq", str(seq), "--attn", self.args.export_attn, "--dtype", dtype, "--out", out]
        for flag, k in (("--layers", "layers"), ("--hidden", "hidden"), ("--heads", "heads"),
                        ("--kv-heads", "kv_heads"), ("--inter", "inter"), ("--vocab", "vocab")):
            if k in a:
                cmd += [flag, str(a[k])]
        os.makedirs(out, exist_ok=True)
        log = os.path.join(self.work, f"export-{key}.log")
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self.log(f"export {key}: {' '.join(cmd[1:])}")
        proc = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
        self.exports[key] = (proc, log, time.perf_counter())
        return key

    def wait_export(self, key):
        """The exported model.onnx of `key`, once its export is done; raises with the log's end."""
        path = os.path.join(self.export_dir, key, "model.onnx")
        job = self.exports.get(key)
        if isinstance(job, str):  # waited for before, and it failed
            raise RuntimeError(job)
        if job:
            proc, log, started = job
            timeout = self.args.export_timeout
            if self.args.deadline:
                timeout = max(1, min(timeout, self.args.deadline - (time.perf_counter() - self.t0)))
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc, why = None, f"export {key} not done after {timeout:.0f} s (--export-timeout/--deadline)"
            self.exports[key] = None
            with open(log) as f:
                text = f.read().strip()
            if rc != 0:
                if rc is not None:
                    tail = " | ".join(text.splitlines()[-3:])
                    why = f"export {key} exited {rc} (log {os.path.basename(log)}): {tail[-400:]}"
                self.exports[key] = why
                raise RuntimeError(why)
            self.log(f"export {key} done in {time.perf_counter() - started:.1f}s: "
                     f"{text.splitlines()[-1][:160] if text else ''}")
        if not os.path.exists(path):
            if self.args.dry_run:
                raise RuntimeError(f"dry run: no export of {key} in {self.export_dir} (needs torch)")
            if not os.path.exists(self.args.export_script):
                raise RuntimeError(f"export script not found: {self.args.export_script}")
            raise RuntimeError(f"export {key} wrote no {path}")
        return path

    def needed_models(self):
        """(arch, batch, seq) of the model rows and compile rows selected."""
        need = []
        for name, arch, batch, seq, _ in MODEL_ROWS:
            if name in self.selected:
                need.append((arch, batch, SMALL_SEQ if self.args.small else seq))
        if any(n in self.selected for n, _ in COMPILE_ROWS):
            arch, batch, seq = COMPILE_MODEL
            need.append((arch, batch, SMALL_SEQ if self.args.small else seq))
        return list(dict.fromkeys(need))

    def export_dtype(self, arch):
        return "bfloat16" if arch == "llama" else self.args.gpt2_export_dtype

    def start_exports(self):
        need = self.needed_models()
        if not need:
            return
        # The exports run side by side, each on its share of the cores (torch's CPU threads
        # oversubscribed would slow all of them); Llama, by far the most work (its export runs a
        # 1.1B forward on the CPU for the reference output), gets most.
        cpus = os.cpu_count() or 4
        big = [m for m in need if m[0] == "llama"]
        small = [m for m in need if m[0] != "llama"]
        big_threads = max(1, cpus * 5 // 8) if big and small else cpus
        small_threads = max(1, (cpus - (big_threads if big else 0)) // max(1, len(small)))
        for arch, batch, seq in big + small:
            self.start_export(arch, batch, seq, self.export_dtype(arch),
                              big_threads if arch == "llama" else small_threads)

    def spdc_model(self, arch, batch, seq):
        """The model of (arch, batch, seq) exported and compiled by spdc: {'onnx', 'bundle',
        'summary', 'note'}. A GPT-2 exported in bf16 that spdc does not compile is exported again
        in f32 (and still compiled with --dtype=bf16)."""
        mkey = (arch, batch, seq)
        if mkey in self.models:
            if isinstance(self.models[mkey], Exception):
                raise self.models[mkey]
            return self.models[mkey]
        dtype = self.export_dtype(arch)
        note = None
        try:
            try:
                info = self._compile_export(arch, batch, seq, dtype)
            except (SpdcError, RuntimeError) as e:
                late = self.args.deadline and time.perf_counter() - self.t0 > self.args.deadline
                if arch != "gpt2" or dtype == "float32" or self.args.dry_run or late:
                    raise
                self.log(f"{arch} b{batch} s{seq}: no bf16 model ({e}); exporting f32")
                note = f"bf16 export failed ({str(e)[:200]}); exported f32, compiled --dtype=bf16"
                self.start_export(arch, batch, seq, "float32", os.cpu_count() or 4)
                info = self._compile_export(arch, batch, seq, "float32")
            info["note"] = note
            self.models[mkey] = info
            return info
        except Exception as e:  # noqa: BLE001  (reported as the row's error)
            self.models[mkey] = e
            raise

    def _compile_export(self, arch, batch, seq, dtype):
        key = self.export_key(arch, batch, seq, dtype)
        onnx_path = self.wait_export(key)
        bundle = os.path.join(self.work, f"{key}.spdc")
        wall, summary = self.spdc.compile(onnx_path, bundle, "bf16")
        try:
            flags = self.spdc.attention_flags(onnx_path)
            summary["attention_causal"] = sum(f["causal"] for f in flags)
            summary["attention_with_mask"] = sum(f["mask"] for f in flags)
        except SpdcError:
            pass
        self.log(f"spdc compiled {key} in {wall:.2f}s: kernels {summary.get('kernels')}, "
                 f"composites {summary.get('composites')}, attention "
                 f"{summary.get('attention_fused')}/{summary.get('attention_found')} fused "
                 f"({summary.get('attention_causal')} causal, {summary.get('attention_with_mask')} with a mask)")
        return {"onnx": onnx_path, "bundle": bundle, "summary": summary, "export_dtype": dtype,
                "compile_s": wall}

    # -- kernel rows ----------------------------------------------------------------------------

    def prepare_kernels(self):
        specs = {s.name: s for s in graphs.kernel_specs(self.args.small)}
        self.kernel_specs = {}
        for name in KERNEL_PEERS:
            if name not in self.selected:
                continue
            spec = specs[name]
            row = self.rows[name] = Row(name, KERNEL_PEERS[name])
            row.flops, row.nbytes = spec.flops, spec.nbytes
            if spec.note:
                row.notes.append(spec.note)
            self.kernel_specs[name] = spec
            try:
                folder = os.path.join(self.work, "kernels", name)
                if self.args.small:
                    # Small shapes: with inputs and a numpy reference, for `spdc test`.
                    model = graphs.write_test_folder(spec, folder)
                else:
                    os.makedirs(folder, exist_ok=True)
                    model = spec.build()
                    graphs.onnx.save(model, os.path.join(folder, "model.onnx"))
                onnx_path = os.path.join(folder, "model.onnx")
                self.check_recognized(row, onnx_path)
                bundle = os.path.join(folder, "model.spdc")
                wall, summary = self.spdc.compile(onnx_path, bundle, "bf16")
                row.bundle = bundle
                row.onnx = onnx_path
                self.log(f"{name}: compiled in {wall:.2f}s, {summary.get('kernels')} kernel(s), "
                         f"composites {summary.get('composites')}")
            except Exception as e:  # noqa: BLE001
                row.spdc_error = _err(e)
                self.log(f"{name}: spdc side failed: {row.spdc_error}")

    def check_recognized(self, row, onnx_path):
        """Records what spdc made of the row's graph (one composite, one kernel, the attention
        flags); a graph that did not become one fused kernel gets a note saying so."""
        s = self.spdc.summary(onnx_path)
        row.spdc_extra["kernels"] = s.get("kernels")
        row.spdc_extra["composites"] = s.get("composites")
        if s.get("remark_lines"):
            row.spdc_extra["remarks"] = s["remark_lines"][:5]
        if s.get("kernels") != 1:
            row.notes.append(f"spdc made {s.get('kernels')} kernels of this graph, not 1")
        if row.name.startswith("attention"):
            flags = self.spdc.attention_flags(onnx_path)
            row.spdc_extra["attention"] = flags
            if not flags:
                row.notes.append("spdc did not fuse the attention")
            elif "causal" in row.name and not flags[0]["causal"]:
                row.notes.append("spdc did not recognize the causal mask: fused with an explicit "
                                 "[s, s] mask operand, not causal=true")
        if self.args.small:
            try:
                p = subprocess.run([self.spdc.path, "test", os.path.dirname(onnx_path), "--pipeline=default"],
                                   capture_output=True, text=True, env=self.spdc.env, timeout=300)
                verdict = (p.stdout.strip().splitlines() or [p.stderr.strip() or "?"])[0]
            except (OSError, subprocess.TimeoutExpired) as e:
                verdict = f"not run: {_err(e)}"
            row.spdc_extra["interpreter_check"] = verdict[:300]
            if not verdict.startswith("PASS"):
                row.notes.append(f"interpreter check vs numpy: {verdict[:200]}")

    def measure_kernels(self):
        for name, spec in self.kernel_specs.items():
            row = self.rows[name]
            if self.past_deadline(row):
                continue
            if not row.spdc_error:
                self.time_spdc(row, row.bundle, self.args.kernel_iters)
                self.queue_same_harness(row, row.bundle, KERNEL_TIMING)
            for peer in row.peers:
                self.time_peer(row, peer, lambda p=peer: self.kernel_peer(row, spec, p))

    def kernel_peer(self, row, spec, peer):
        import peers
        timing = KERNEL_TIMING
        if row.name.startswith("attention"):
            return peers.attention_peer(peer, spec.inputs, "causal" in row.name, timing)
        return peers.elementwise_peer(peer, row.name, spec.inputs, timing)

    # -- timing helpers ---------------------------------------------------------------------------

    def time_spdc(self, row, bundle, iters):
        if self.args.dry_run:
            row.spdc_error = row.spdc_error or "dry run: not timed"
            return
        try:
            r = self.spdc.bench(bundle, iters, timeout_s=self.args.bench_timeout,
                                flush_mb=self.args.flush_mb,
                                extra=shlex.split(self.args.spdc_bench_flags or ""))
            row.spdc_ms = r["median_ms"]
            row.spdc_extra["min_ms"] = r.get("min_ms")
            # Timed as do_bench times the peers (each run after a 256 MB scratch write); the
            # back-to-back times of the same runs are kept beside them.
            row.spdc_extra["flush_bytes"] = r.get("flush_bytes", 0)
            for key in ("back_to_back_median_ms", "back_to_back_min_ms"):
                if r.get(key) is not None:
                    row.spdc_extra[key] = r[key]
            if r.get("profile"):
                row.spdc_extra["profile"] = r["profile"]
            row.spdc_extra["iters"] = r.get("iters", iters)
            row.spdc_extra["bench"] = r.get("source")
            # Outputs bound in the padded rows the model computes them in (GPT-2's logits).
            if r.get("pitched_outputs"):
                row.spdc_extra["pitched_outputs"] = r["pitched_outputs"]
            if r.get("device"):
                self.device = self.device or r["device"]
            self.log(f"{row.name}: spdc {row.spdc_ms:.4f} ms (min {r.get('min_ms')}, {r.get('source')})")
        except Exception as e:  # noqa: BLE001
            row.spdc_error = _err(e)
            self.log(f"{row.name}: spdc bench failed: {row.spdc_error}")

    def queue_same_harness(self, row, bundle, timing):
        """Queues the bundle for run_same_harness (rows whose spdc side failed are left out
        there)."""
        if not self.args.dry_run and self.args.same_harness:
            self.same_harness.append((row, bundle, timing))

    def run_same_harness(self):
        """Every bundle timed through `spdc bench` again, by the peers' own do_bench (the same
        flush kernel, events and stream handling) in one child python process
        (bench/same_harness.py, libspdcrt through ctypes): `same_harness` in the JSON. A child,
        so that a clash or crash of the library in torch's process costs only this column.
        `spdc bench`'s median stays the row's spdc_ms."""
        queued = [(r, b, t) for r, b, t in self.same_harness if not r.spdc_error]
        if not queued or not self.have_torch():
            return
        import spdc_ctypes
        lib = self.args.spdc_lib or spdc_ctypes.find_library(self.spdc.path)
        if not lib:
            for r, _, _ in queued:
                r.spdc_extra["same_harness_error"] = f"no libspdcrt.so beside {self.spdc.path} (--spdc-lib)"
            return
        timeout = 30 + sum(5 + (w + rep) * 3 / 1000 for _, _, (w, rep) in queued)
        if self.args.deadline:
            timeout = min(timeout, max(20, self.args.deadline + 45 - (time.perf_counter() - self.t0)))
        cmd = [sys.executable, os.path.join(HERE, "same_harness.py"), "--lib", lib,
               "--cache-dir", os.path.join(self.work, "xdg-cache", "spdc")]
        if "--dependent-launch=false" in (self.args.spdc_bench_flags or ""):
            cmd.append("--no-dependent-launch")
        cmd += [f"{w}:{rep}:{b}" for _, b, (w, rep) in queued]
        results = {}
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            for line in p.stdout.splitlines():
                if line.startswith("{"):
                    d = json.loads(line)
                    results[d["bundle"]] = d
            why = f"same_harness.py exited with {p.returncode}: {(p.stderr.strip().splitlines() or [''])[-1][:200]}"
        except subprocess.TimeoutExpired:
            why = f"same_harness.py not done after {timeout:.0f} s"
        for row, bundle, _ in queued:
            d = results.get(bundle, {"error": why})
            if d.get("ms"):
                row.spdc_extra["same_harness_ms"] = round(d["ms"], 4)
                if d.get("back_to_back_ms"):
                    row.spdc_extra["same_harness_back_to_back_ms"] = round(d["back_to_back_ms"], 4)
                self.log(f"{row.name}: spdc by the peers' do_bench {d['ms']:.4f} ms")
            else:
                row.spdc_extra["same_harness_error"] = d.get("error", why)[:300]
                self.log(f"{row.name}: spdc by the peers' do_bench failed: {row.spdc_extra['same_harness_error']}")

    def time_peer(self, row, peer, fn):
        if not self.have_torch():
            row.peer_error[peer] = self.no_peer_reason()
            return
        try:
            import peers
            peers.last_back_to_back_ms = None
            ms, note = fn()
            row.peer_ms[peer] = ms
            if peers.last_back_to_back_ms is not None:
                row.peer_extra[peer]["back_to_back_median_ms"] = round(peers.last_back_to_back_ms, 4)
            if note:
                row.peer_extra[peer]["note"] = note
            self.log(f"{row.name}: {peer} {ms:.4f} ms" + (f" ({note})" if note else ""))
        except Exception as e:  # noqa: BLE001
            row.peer_error[peer] = _err(e)
            self.log(f"{row.name}: {peer} failed: {row.peer_error[peer]}")
        finally:
            _free_torch_memory()

    # -- compile rows ---------------------------------------------------------------------------

    def run_compile_rows(self):
        names = [(n, k) for n, k in COMPILE_ROWS if n in self.selected]
        if not names:
            return
        arch, batch, seq = COMPILE_MODEL
        seq = SMALL_SEQ if self.args.small else seq
        rows = {n: Row(n, [COMPILE_PEER]) for n, _ in names}
        self.rows.update(rows)
        if any([self.past_deadline(r) for r in rows.values()]):
            return
        try:
            m = self.spdc_model(arch, batch, seq)
            bundle = os.path.join(self.work, "compile-row.spdc")
            # NVRTC included: the kernels are precompiled for the GPU into the bundle (a
            # cubin), so that loading it compiles nothing.
            t = self.spdc.compile_times(m["onnx"], bundle, "bf16", self.args.cached_compile_runs,
                                        extra=(f"--arch={COMPILE_ARCH}",))
            for n, k in names:
                rows[n].spdc_ms = t[k] * 1e3
                rows[n].notes.append(f"wall time of `spdc model.onnx -o x.spdc --dtype=bf16 "
                                     f"--arch={COMPILE_ARCH}` (NVRTC included) on the "
                                     f"{m['export_dtype']} export of the b{batch} s{seq} row; "
                                     f"XDG_CACHE_HOME a new empty folder for the cold run, "
                                     f"after one untimed compile with another empty folder (the "
                                     f"first NVRTC process of the machine: "
                                     f"{t['first_process_s']:.2f} s)")
            if "compile_gpt2_124m_cold" in rows:
                cold = rows["compile_gpt2_124m_cold"]
                cold.spdc_extra["first_process_s"] = round(t["first_process_s"], 3)
                if t.get("cold_phases_s"):
                    cold.spdc_extra["phases_s"] = t["cold_phases_s"]
            if "compile_gpt2_124m_cached" in rows:
                cached = rows["compile_gpt2_124m_cached"]
                cached.spdc_extra["runs_s"] = [round(x, 3) for x in t["cached_runs_s"]]
                if not t["cached_summary"].get("from_cache"):
                    cached.notes.append("spdc reported no compile-cache hit")
            self.log(f"spdc compile GPT-2: first process {t['first_process_s']:.2f}s, "
                     f"cold {t['cold_s']:.2f}s, cached {t['cached_s']:.2f}s "
                     f"(runs {', '.join(f'{x:.2f}' for x in t['cached_runs_s'])})")
        except Exception as e:  # noqa: BLE001
            for r in rows.values():
                r.spdc_error = _err(e)
        # The peer: torch.compile's first call in a fresh process, first with empty inductor and
        # triton caches (cold), then again with the caches that run left (cached).
        if not self.have_torch():
            for r in rows.values():
                r.peer_error[COMPILE_PEER] = self.no_peer_reason()
            return
        cache = tempfile.mkdtemp(prefix="torchinductor-cold-")
        results = {}
        for label in ("cold", "cached"):
            want = "compile_gpt2_124m_" + label
            if want not in rows and label == "cached":
                break
            try:
                results[label] = self.first_call_subprocess(arch, batch, seq, cache)
                self.log(f"torch.compile first call of GPT-2 ({label} caches): {results[label]['first_call_s']:.2f}s")
            except Exception as e:  # noqa: BLE001
                results[label] = e
        for n, _ in names:
            label = "cold" if n.endswith("cold") else "cached"
            r = results.get(label)
            if isinstance(r, dict):
                rows[n].peer_ms[COMPILE_PEER] = r["first_call_s"] * 1e3
                rows[n].peer_extra[COMPILE_PEER]["note"] = (
                    f"wall time of the first call of torch.compile(model) (b{batch} s{seq}) in a fresh "
                    f"process, {'empty' if label == 'cold' else 'warm (left by the cold run)'} "
                    f"TORCHINDUCTOR_CACHE_DIR/TRITON_CACHE_DIR")
            else:
                rows[n].peer_error[COMPILE_PEER] = _err(r) if r else "not measured"

    def first_call_subprocess(self, arch, batch, seq, cache):
        env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache, TRITON_CACHE_DIR=os.path.join(cache, "triton"))
        cmd = [sys.executable, os.path.abspath(__file__), "--first-call", arch, "--first-call-shape",
               f"{batch}x{seq}"] + (["--small"] if self.args.small else []) + \
              ([] if self.args.exact_weights else ["--no-exact-weights"])
        timeout = FIRST_CALL_TIMEOUT_S
        if self.args.deadline:
            timeout = max(1, min(timeout, self.args.deadline - (time.perf_counter() - self.t0)))
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the first-call process ran past {timeout:.0f} s")
        for line in p.stdout.splitlines():
            if line.startswith("FIRST_CALL_JSON "):
                return json.loads(line[len("FIRST_CALL_JSON "):])
        raise RuntimeError(f"first-call process exited {p.returncode}: "
                           f"{' | '.join((p.stderr or p.stdout).strip().splitlines()[-3:])[-400:]}")

    # -- model rows -----------------------------------------------------------------------------

    def run_model_rows(self):
        torch_models = {}
        for name, arch, batch, seq, peer_names in MODEL_ROWS:
            if name not in self.selected:
                continue
            seq = SMALL_SEQ if self.args.small else seq
            row = self.rows[name] = Row(name, peer_names)
            if self.args.small:
                row.notes.append(f"--small: {self.archs[arch]}, b{batch} s{seq}")
            if self.past_deadline(row):
                continue
            self.write()
            try:
                m = self.spdc_model(arch, batch, seq)
                row.spdc_extra["kernels"] = m["summary"].get("kernels")
                row.spdc_extra["composites"] = m["summary"].get("composites")
                row.spdc_extra["attention_fused"] = m["summary"].get("attention_fused")
                row.spdc_extra["attention_found"] = m["summary"].get("attention_found")
                row.spdc_extra["attention_causal"] = m["summary"].get("attention_causal")
                row.spdc_extra["attention_with_mask"] = m["summary"].get("attention_with_mask")
                row.spdc_extra["export_dtype"] = m["export_dtype"]
                if m.get("note"):
                    row.notes.append(m["note"])
                self.time_spdc(row, m["bundle"], self.args.model_iters)
                self.queue_same_harness(row, m["bundle"], MODEL_TIMING)
            except Exception as e:  # noqa: BLE001
                row.spdc_error = _err(e)
                self.log(f"{name}: spdc side failed: {row.spdc_error}")
            if not self.have_torch():
                for p in peer_names:
                    row.peer_error[p] = self.no_peer_reason()
                continue
            try:
                import peers
                if arch not in torch_models:
                    for other in list(torch_models):  # one model on the GPU at a time
                        del torch_models[other]
                    peers.free_memory()
                    t = time.perf_counter()
                    cfg = peers.hf_config(**self.archs[arch], seq=seq, attn="sdpa")
                    torch_models[arch] = (cfg, peers.hf_model(cfg, self.args.exact_weights))
                    self.log(f"torch {arch} built in {time.perf_counter() - t:.1f}s")
                cfg, model = torch_models[arch]
                ids = peers.token_ids(cfg, batch, seq)
            except Exception as e:  # noqa: BLE001
                for p in peer_names:
                    row.peer_error[p] = f"building the HF model: {_err(e)}"
                self.log(f"{name}: torch model failed: {_err(e)}")
                continue
            for p in peer_names:
                def measure(p=p):
                    modes = {}
                    ms, first = peers.model_peer(p, model, ids, MODEL_TIMING, modes)
                    if first is not None:
                        row.peer_extra[p]["first_call_s"] = round(first, 2)
                    if modes:
                        row.peer_extra[p]["modes_ms"] = modes
                    return ms, None
                self.time_peer(row, p, measure)
        torch_models.clear()

    # -- output -------------------------------------------------------------------------------

    def entries(self):
        out = []
        for name in all_row_names():
            if name in self.rows:
                out.extend(self.rows[name].entries())
        return out

    def device_name(self):
        if self.device:
            return self.device
        if self.args.dry_run:
            return "none"
        if self.have_torch():
            try:
                import peers
                self.device = peers.device_name()
            except Exception:  # noqa: BLE001
                pass
        if not self.device:
            try:
                p = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", "0"],
                                   capture_output=True, text=True, timeout=30)
                self.device = p.stdout.strip().splitlines()[0] if p.returncode == 0 and p.stdout.strip() else None
            except (OSError, subprocess.TimeoutExpired, IndexError):
                pass
        return self.device or "unknown"

    def write(self, final=False):
        device = self.device_name()
        doc = {"device": device, "results": self.entries(),
               "date": datetime.date.today().isoformat(),
               "small": bool(self.args.small), "dry_run": bool(self.args.dry_run),
               "spdc": self.args.spdc, "spdc_commit": git_commit(),
               "spdc_flags": self.args.spdc_flags or "",
               "spdc_bench_flags": self.args.spdc_bench_flags or "",
               "versions": versions(self.have_torch()),
               "timing": {"do_bench_kernel_ms": KERNEL_TIMING, "do_bench_model_ms": MODEL_TIMING,
                          "spdc_kernel_iters": self.args.kernel_iters, "spdc_model_iters": self.args.model_iters,
                          "spdc_flush_mb": self.args.flush_mb},
               "phases_s": self.phases, "wall_s": round(time.perf_counter() - self.t0, 1),
               "complete": final}
        base = f"{datetime.date.today().isoformat()}-{gpu_slug(device)}"
        if self.args.small:
            base += "-small"
        if self.args.dry_run:
            base += "-dry-run"
        for flags in (self.args.spdc_flags, self.args.spdc_bench_flags):
            # Runs with other kernel or launch choices keep their own files.
            if flags:
                base += "-" + re.sub(r"[^a-z0-9]+", "-", flags.lower()).strip("-")
        paths = []
        dirs = [] if self.args.dry_run and not self.args.results_dir else [self.args.results_dir or os.path.join(HERE, "results")]
        out_dir = self.args.out_dir or os.environ.get("OUT")
        if out_dir:
            dirs.append(out_dir)
        if not dirs:
            dirs.append(self.work)
        # A name learned later (from spdc bench) replaces the files written under the old one.
        for old in self.written:
            if os.path.basename(old) != base + ".json" and os.path.exists(old):
                os.unlink(old)
        self.written = []
        for d in dirs:
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, base + ".json")
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(doc, f, indent=1)
                f.write("\n")
            os.replace(tmp, path)
            paths.append(path)
        self.written = list(paths)
        if final and out_dir:
            with open(os.path.join(out_dir, base + ".log"), "w") as f:
                f.write("\n".join(self.log_lines) + "\n")
            for name in os.listdir(self.work):
                if name.startswith("export-") and name.endswith(".log"):
                    shutil.copy(os.path.join(self.work, name), os.path.join(out_dir, name))
        return paths

    def main(self):
        self.log(f"rows: {', '.join(self.selected) or 'none'}; work dir {self.work}")
        if not self.selected:
            return 2
        self.phase("exports (background)")
        self.start_exports()
        self.log(f"device: {self.device_name()}")
        self.phase("kernel graphs")
        self.prepare_kernels()
        self.write()
        self.phase("waiting for exports")
        for arch, batch, seq in self.needed_models():
            try:
                self.wait_export(self.export_key(arch, batch, seq, self.export_dtype(arch)))
            except Exception as e:  # noqa: BLE001  (the rows that need it report it)
                self.log(f"{_err(e)}")
        self.phase("compile rows")
        self.run_compile_rows()
        self.write()
        self.phase("kernel rows")
        self.measure_kernels()
        self.write()
        self.phase("model rows")
        self.run_model_rows()
        self.phase("spdc by the peers' do_bench")
        self.run_same_harness()
        self.phase("done")
        paths = self.write(final=True)
        table = format_table(self.entries())
        out_dir = self.args.out_dir or os.environ.get("OUT")
        if out_dir:
            with open(os.path.join(out_dir, "table.txt"), "w") as f:
                f.write(f"{self.device_name()}\n{table}\n")
        print()
        print(f"device: {self.device_name()}   wall: {time.perf_counter() - self.t0:.0f}s")
        print(table)
        print("\nwrote " + ", ".join(paths))
        return 0


def _err(e):
    if isinstance(e, (SpdcError, RuntimeError, ValueError, OSError)):
        msg = str(e)
    else:
        msg = f"{type(e).__name__}: {e}"
    msg = " ".join(msg.split())
    return msg[:500] if msg else type(e).__name__


def git_commit():
    """The commit the staged spdc was built from (SPDC_COMMIT, which run-on-device.sh takes from
    the stage step), else the checkout's HEAD."""
    if os.environ.get("SPDC_COMMIT"):
        return os.environ["SPDC_COMMIT"]
    try:
        p = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True,
                           text=True, timeout=10)
        return p.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def versions(with_torch):
    v = {"python": sys.version.split()[0]}
    mods = ["onnx", "numpy"] + (["torch", "triton", "transformers"] if with_torch else [])
    for m in mods:
        try:
            v[m] = __import__(m).__version__
        except Exception:  # noqa: BLE001
            pass
    return v


def first_call_main(args):
    """--first-call: run in a fresh process by the compile rows; prints one JSON line."""
    import peers
    batch, seq = (int(x) for x in args.first_call_shape.split("x"))
    arch = (SMALL_ARCHS if args.small else ARCHS)[args.first_call]
    r = peers.compile_first_call(arch, batch, seq, args.exact_weights)
    print("FIRST_CALL_JSON " + json.dumps(r), flush=True)
    return 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spdc", default=os.path.join(HERE, "..", "build", "bin", "spdc"),
                   help="the spdc binary (default: build/bin/spdc)")
    p.add_argument("--export-script", default=os.path.join(HERE, "..", ".device", "export_hf_models.py"),
                   help="the workplace's export_hf_models.py (on the GPU machine: .device/export_hf_models.py)")
    p.add_argument("--out-dir", help="also write the JSON, table and logs here (default: $OUT if set)")
    p.add_argument("--results-dir", help="where the JSON goes (default: bench/results)")
    p.add_argument("--work-dir", help="models, bundles and logs of this run (default: a new temp folder)")
    p.add_argument("--export-dir", help="exported models; an <arch>_b<B>_s<S>_<dtype>/model.onnx already "
                                        "there is used as is (default: <work-dir>/exports)")
    p.add_argument("--only", help="run the rows whose name matches this regex")
    p.add_argument("--list", action="store_true", help="print the row names and exit")
    p.add_argument("--small", action="store_true",
                   help="small shapes (kernel rows checked against numpy on spdc's interpreter; tiny models)")
    p.add_argument("--dry-run", action="store_true",
                   help="build and compile the graphs, time nothing, no torch (works without a GPU)")
    p.add_argument("--export-attn", default="sdpa", choices=["sdpa", "eager"],
                   help="attention implementation of the exported HF models")
    p.add_argument("--gpt2-export-dtype", default="bfloat16", choices=["bfloat16", "float32"],
                   help="dtype GPT-2 is exported in (a bf16 export spdc cannot compile falls back to f32)")
    p.add_argument("--no-exact-weights", dest="exact_weights", action="store_false",
                   help="torch models: random init on the GPU instead of the export's weights (faster)")
    p.add_argument("--spdc-flags", help="extra options for every spdc compile, e.g. "
                   "--spdc-flags=--attention-ws=false (recorded in the JSON and the file name)")
    p.add_argument("--spdc-bench-flags", help="extra options for every `spdc bench`, e.g. "
                   "--spdc-bench-flags=--dependent-launch=false (recorded like --spdc-flags)")
    p.add_argument("--flush-mb", type=int, default=FLUSH_MB,
                   help="spdc's timed runs each after writing this many MB of scratch, as do_bench "
                        "times the peers (0: back to back only)")
    p.add_argument("--spdc-lib", help="libspdcrt.so for timing each bundle with the peers' do_bench "
                   "(same_harness.py; default: beside --spdc, or the build tree's lib/)")
    p.add_argument("--no-same-harness", dest="same_harness", action="store_false",
                   help="time spdc with `spdc bench` only, not also with the peers' do_bench")
    p.add_argument("--kernel-iters", type=int, default=KERNEL_ITERS)
    p.add_argument("--model-iters", type=int, default=MODEL_ITERS)
    p.add_argument("--cached-compile-runs", type=int, default=CACHED_COMPILE_RUNS)
    p.add_argument("--export-timeout", type=int, default=420, help="seconds")
    p.add_argument("--deadline", type=int, default=540,
                   help="seconds after which rows not yet started are reported as skipped (0: none); "
                        "keeps a run inside the device machine's 10 minutes per command")
    p.add_argument("--bench-timeout", type=int, default=180, help="seconds per spdc bench")
    p.add_argument("--first-call", help=argparse.SUPPRESS)
    p.add_argument("--first-call-shape", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.first_call:
        return first_call_main(args)
    if args.list:
        print("\n".join(all_row_names()))
        return 0
    if args.only:
        try:
            re.compile(args.only)
        except re.error as e:
            print(f"--only: bad regex: {e}", file=sys.stderr)
            return 2
    run = Run(args)
    try:
        return run.main()
    except KeyboardInterrupt:
        run.write(final=True)
        raise
    except Exception:  # noqa: BLE001  (a bug here still leaves the rows measured so far)
        traceback.print_exc()
        run.write(final=True)
        print(format_table(run.entries()))
        return 1
    finally:
        for job in run.exports.values():
            if isinstance(job, tuple) and job[0].poll() is None:
                job[0].kill()


if __name__ == "__main__":
    sys.exit(main())
