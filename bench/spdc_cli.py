"""The spdc side of the benchmark: compile a model, read what the compiler found, time a bundle.

Everything goes through the `spdc` command line, as a user would run it. Failures come back as
SpdcError with the end of spdc's stderr, so that a row can report them and the run go on.
"""
import json
import os
import re
import statistics
import subprocess
import tempfile
import time


class SpdcError(Exception):
    pass


def _tail(text, limit=400):
    text = (text or "").strip()
    lines = [l for l in text.splitlines() if l.strip()]
    out = " | ".join(lines[-4:])
    return out if len(out) <= limit else "..." + out[-limit:]


class Spdc:
    def __init__(self, path, env=None, timeout_s=600, compile_flags=()):
        self.path = path
        # Added to every compile (e.g. kernel choices not yet on by default).
        self.compile_flags = list(compile_flags)
        self.env = dict(os.environ if env is None else env)
        self.timeout_s = timeout_s
        self._bench_flags = None

    def _run(self, args, env=None, timeout_s=None):
        cmd = [self.path] + [str(a) for a in args]
        start = time.perf_counter()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, env=env or self.env,
                               timeout=timeout_s or self.timeout_s)
        except FileNotFoundError:
            raise SpdcError(f"spdc not found at {self.path}")
        except PermissionError:
            raise SpdcError(f"spdc at {self.path} is not executable")
        except subprocess.TimeoutExpired:
            raise SpdcError(f"`{' '.join(cmd[1:3])} ...` ran past {timeout_s or self.timeout_s} s")
        wall = time.perf_counter() - start
        if p.returncode != 0:
            raise SpdcError(f"`spdc {' '.join(str(a) for a in args[:2])} ...` exited {p.returncode}: "
                            f"{_tail(p.stderr or p.stdout)}")
        return p, wall

    # -- compiling --------------------------------------------------------------------------

    def compile(self, model, bundle, dtype="bf16", extra=(), env=None):
        """Compiles `model` to `bundle`; returns (wall seconds, parsed summary)."""
        p, wall = self._run([model, "-o", bundle, f"--dtype={dtype}", *self.compile_flags, *extra],
                            env=env)
        return wall, parse_summary(p.stdout)

    def summary(self, model, dtype="bf16"):
        """What the pipeline finds in `model` (composites, kernels, remarks), no bundle written."""
        p, _ = self._run([model, "--emit=summary", "--remarks", f"--dtype={dtype}"])
        s = parse_summary(p.stdout)
        s["remark_lines"] = [l.strip() for l in (p.stdout + p.stderr).splitlines() if "remark:" in l]
        return s

    def attention_flags(self, model, dtype="bf16"):
        """The spd.attention ops of the optimized IR: for each, whether it is causal and whether
        it kept an explicit mask operand."""
        p, _ = self._run([model, "--emit=mlir", f"--dtype={dtype}"])
        found = []
        for line in p.stdout.splitlines():
            if "spd.attention" in line:
                found.append({"causal": "causal = true" in line, "mask": " mask(" in line})
        return found

    def compile_times(self, model, bundle, dtype="bf16", cached_runs=3, extra=()):
        """compile_gpt2_124m_cold / _cached: the wall time of `spdc model -o bundle` with an empty
        cache (XDG_CACHE_HOME a new folder), then the median of `cached_runs` more runs with that
        same cache."""
        # One untimed compile with its own empty cache first: the first NVRTC process of a fresh
        # machine also reads libnvrtc, its builtins and the CUDA headers from disk, which is the
        # OS page cache's state, not spdc's. The cold run then starts from an empty spdc cache
        # with the libraries and the model file in the page cache (its time is first_process_s).
        first_cache = tempfile.mkdtemp(prefix="spdc-xdg-first-")
        first, _ = self.compile(model, bundle, dtype, extra,
                                env=dict(self.env, XDG_CACHE_HOME=first_cache))
        cache = tempfile.mkdtemp(prefix="spdc-xdg-")
        env = dict(self.env, XDG_CACHE_HOME=cache)
        cold, summary = self.compile(model, bundle, dtype, extra, env=env)
        runs = [self.compile(model, bundle, dtype, extra, env=env)
                for _ in range(max(1, cached_runs))]
        warm = [wall for wall, _ in runs]
        # Where a cold compile goes: one more (untimed) with yet another empty cache and
        # --mlir-timing, whose report lists the phases in seconds.
        phases = {}
        try:
            p, _ = self._run([model, "-o", bundle, f"--dtype={dtype}", *self.compile_flags, *extra,
                              "--mlir-timing"],
                             env=dict(self.env, XDG_CACHE_HOME=tempfile.mkdtemp(prefix="spdc-xdg-")))
            for line in p.stderr.splitlines():
                m = re.match(r"\s*([0-9.]+) \(\s*[0-9.]+%\)(\s+)(\S.*)$", line)
                if m and len(m.group(2)) == 2:  # top-level phases only, not the nested passes
                    phases[m.group(3).strip()] = float(m.group(1))
        except SpdcError:
            pass
        return {"cold_s": cold, "first_process_s": first, "cached_s": statistics.median(warm),
                "cached_runs_s": warm, "cold_phases_s": phases,
                "summary": summary, "cached_summary": runs[-1][1], "xdg_cache_home": cache}

    # -- timing -------------------------------------------------------------------------------

    def bench_flags(self):
        """The options `spdc bench --help` lists (e.g. {'--iters', '--json', ...})."""
        if self._bench_flags is None:
            try:
                p = subprocess.run([self.path, "bench", "--help"], capture_output=True, text=True,
                                   env=self.env, timeout=60)
                self._bench_flags = set(re.findall(r"(--[a-z][a-z0-9-]*)", p.stdout))
            except (OSError, subprocess.TimeoutExpired):
                self._bench_flags = set()
        return self._bench_flags

    def bench(self, bundle, iters, timeout_s=None, flush_mb=0, extra=()):
        """Times `bundle` with `spdc bench`: {'median_ms', 'min_ms', 'iters', 'device', 'source'}.
        With --json (inputs and outputs bound in device memory) the file it writes is read;
        without, the text report (whose median then includes host copies of the I/O).
        flush_mb: each timed run after writing that much scratch, as do_bench times the peers
        (the back-to-back times then come as 'back_to_back_median_ms'); ignored by an spdc
        without --flush-l2-mb. extra: more `spdc bench` options."""
        args = ["bench", bundle, "--iters", str(iters), *extra]
        if flush_mb and "--flush-l2-mb" in self.bench_flags():
            args.append(f"--flush-l2-mb={int(flush_mb)}")
        if "--json" in self.bench_flags():
            fd, path = tempfile.mkstemp(suffix=".json", prefix="spdc-bench-")
            os.close(fd)
            try:
                p, _ = self._run(args + [f"--json={path}"], timeout_s=timeout_s)
                with open(path) as f:
                    r = json.load(f)
            except (OSError, ValueError) as e:
                raise SpdcError(f"spdc bench --json wrote no readable file: {e}")
            finally:
                if os.path.exists(path):
                    os.unlink(path)
            if not isinstance(r.get("median_ms"), (int, float)):
                raise SpdcError(f"spdc bench --json: no median_ms in {sorted(r)}")
            r["source"] = "spdc bench --json"
            r["profile"] = profile_summary(r.get("steps") or [])
            r.setdefault("report", _tail(p.stdout, 2000))
            return r
        p, _ = self._run(args, timeout_s=timeout_s)
        r = parse_bench_text(p.stdout)
        r["source"] = "spdc bench (text report; I/O bound in host memory)"
        return r


def profile_summary(steps, top=6):
    """Where a run's time goes, from `spdc bench --json`'s per-step profile (run without CUDA
    graphs): milliseconds per kind of step (gemm, attention, norm/softmax rows, other kernels,
    copies) and the few most expensive kernels, summed over their launches."""
    def kind(s):
        if s.get("kind") == "gemm":
            return "gemm"
        if s.get("kind") == "copy":
            return "copy"
        name = s.get("name", "")
        if "attention" in name and ("kernels::attention" in name or name.startswith("_Z")):
            return "attention"
        if "reduction" in name or "norm" in name or "softmax" in name:
            return "rows"
        return "other kernels"
    by_kind, by_kernel = {}, {}
    for s in steps:
        ms = float(s.get("mean_ms", 0.0))
        k = kind(s)
        by_kind[k] = by_kind.get(k, 0.0) + ms
        name = s.get("name", "")
        if s.get("kind") == "gemm":
            name = "gemm " + s.get("nodes", "")[:40]
        by_kernel[name[:60]] = by_kernel.get(name[:60], 0.0) + ms
    topk = sorted(by_kernel.items(), key=lambda kv: -kv[1])[:top]
    return {"ms_by_kind": {k: round(v, 4) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])},
            "top_kernels_ms": [[n, round(v, 4)] for n, v in topk],
            "steps": len(steps)}


_SUMMARY_INT = {
    "kernels": re.compile(r"^\s*kernels: (\d+)", re.M),
    "remarks": re.compile(r"^\s*remarks: (\d+)", re.M),
    "launches": re.compile(r"kernels emitted: (\d+) launches", re.M),
    "gemms": re.compile(r"GEMMs: (\d+)", re.M),
}


def parse_summary(text):
    """The numbers of spdc's compile summary (composites, attention fused/found, kernels,
    remarks, compile time); keys are missing where the summary has no such line."""
    s = {}
    m = re.search(r"^\s*composites: (.*)$", text, re.M)
    if m:
        words = m.group(1).split()
        s["composites"] = {} if words == ["none"] else {
            words[i]: int(words[i + 1]) for i in range(0, len(words) - 1, 2)}
    m = re.search(r"attention blocks: (\d+) fused of (\d+) found", text)
    if m:
        s["attention_fused"], s["attention_found"] = int(m.group(1)), int(m.group(2))
    for key, rx in _SUMMARY_INT.items():
        m = rx.search(text)
        if m:
            s[key] = int(m.group(1))
    m = re.search(r"compile time: (\d+(?:\.\d+)?) ms( \(unchanged model)?", text)
    if m:
        s["compile_ms"] = float(m.group(1))
        s["from_cache"] = bool(m.group(2))
    return s


def parse_bench_text(text):
    """`spdc bench`'s text report: '<bundle> on <device> (<arch>), N iterations' then
    'latency: median X ms, min Y ms (...)'."""
    m = re.search(r"latency: median ([0-9.]+) ms, min ([0-9.]+) ms", text)
    if not m:
        raise SpdcError(f"no latency line in spdc bench's output: {_tail(text)}")
    r = {"median_ms": float(m.group(1)), "min_ms": float(m.group(2))}
    h = re.search(r" on (.+?) \((sm_[0-9a-z]+)\), (\d+) iterations", text)
    if h:
        r["device"], r["iters"] = h.group(1), int(h.group(3))
    p = re.search(r"profiled, no graph: ([0-9.]+) ms", text)
    if p:
        r["profiled_ms"] = float(p.group(1))
    return r
