#!/usr/bin/env python3
"""The GPU tests (ctest label gpu) on a machine that has a GPU but not the build tree.

ctest's own description of the tests is exported where the project was built, and replayed on
the GPU machine with the binaries staged there (bench/run-on-device.sh stage), so that the test
commands stay defined in one place (test/CMakeLists.txt):

    # here, after building:
    python3 test/run-gpu-tests.py export build .device/gpu-tests.json
    # there (repository root; .device carried):
    source .device/device-env.sh
    python3 test/run-gpu-tests.py run .device/gpu-tests.json --bin .device/bin \
        --map /usr/share/libonnx-testdata/data/node=/tmp/node [--only REGEX] [--exclude REGEX]

`run` maps each command's build-tree binary to the staged one of the same name, the source tree
to the current directory, and any further OLD=NEW prefixes given; it prints one line per test
and `N passed, N failed, N skipped` last (a test whose output says SKIPPED counts as skipped).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time


def export(build, out):
    js = subprocess.run(["ctest", "--test-dir", build, "--show-only=json-v1", "-L", "gpu"],
                        check=True, capture_output=True, text=True).stdout
    data = json.loads(js)
    cache = open(os.path.join(build, "CMakeCache.txt")).read()
    src = re.search(r"^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$", cache, re.M).group(1)
    tests = []
    for t in data["tests"]:
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        tests.append({"name": t["name"], "command": t["command"],
                      "cwd": props.get("WORKING_DIRECTORY")})
    with open(out, "w") as f:
        json.dump({"source_dir": src, "build_dir": os.path.realpath(build), "tests": tests}, f,
                  indent=1)
    print(f"{len(tests)} gpu tests -> {out}")


def run(spec, bindir, maps, only, exclude, timeout):
    data = json.load(open(spec))
    src, build = data["source_dir"], data["build_dir"]
    here = os.getcwd()
    bindir = os.path.realpath(bindir)
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = bindir + ":" + env.get("LD_LIBRARY_PATH", "")

    def remap(arg):
        for old, new in maps:
            if arg.startswith(old):
                return new + arg[len(old):]
        if arg.startswith(build + "/"):
            return os.path.join(bindir, os.path.basename(arg))
        if arg.startswith(src + "/") or arg == src:
            return here + arg[len(src):]
        return arg

    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for t in data["tests"]:
        if only and not re.search(only, t["name"]) or exclude and re.search(exclude, t["name"]):
            continue
        cmd = [remap(a) for a in t["command"]]
        if not os.path.exists(cmd[0]):
            print(f"SKIPPED {t['name']}: {os.path.basename(cmd[0])} is not staged", flush=True)
            counts["skipped"] += 1
            continue
        start = time.time()
        try:
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
            out, rc = p.stdout + p.stderr, p.returncode
        except subprocess.TimeoutExpired:
            out, rc = f"timed out after {timeout} s", -1
        took = time.time() - start
        tail = [l for l in out.strip().splitlines() if l.strip()][-1:] or [""]
        if rc == 0 and "SKIPPED" in out:
            status = "skipped"
        else:
            status = "passed" if rc == 0 else "failed"
        counts[status] += 1
        print(f"{status.upper():8} {t['name']} ({took:.1f} s): {tail[0][:160]}", flush=True)
        if status == "failed":
            print("\n".join("    " + l for l in out.strip().splitlines()[-25:]), flush=True)
    print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return 1 if counts["failed"] else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("build")
    e.add_argument("out")
    r = sub.add_parser("run")
    r.add_argument("spec")
    r.add_argument("--bin", required=True, help="folder of the staged binaries")
    r.add_argument("--map", action="append", default=[], help="OLD=NEW path prefix")
    r.add_argument("--only")
    r.add_argument("--exclude")
    r.add_argument("--timeout", type=int, default=600)
    a = ap.parse_args()
    if a.cmd == "export":
        export(a.build, a.out)
        return 0
    maps = [tuple(m.split("=", 1)) for m in a.map]
    return run(a.spec, a.bin, maps, a.only, a.exclude, a.timeout)


if __name__ == "__main__":
    sys.exit(main())
