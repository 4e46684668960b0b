#!/usr/bin/env python3
"""Every kernel in runtime/kernels must begin with gridDependencySync().

Codegen marks every launch dependent (bundle::Launch::dependentLaunch), and on sm_90+ the runtime
then lets a kernel's blocks start while the previous kernel still runs: a kernel that touched
memory before gridDependencySync() would race with it. This check reads each header and fails,
naming the file, line and kernel, where a __global__ definition's body starts with anything else.
Usage: check_dependent_launch.py <runtime/kernels/include/spdc/kernels>
"""
import pathlib
import re
import sys


def strip_comments(text):
    """Blanks // and /* */ comments, keeping line breaks (and so line numbers)."""
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def check(path):
    text = strip_comments(path.read_text())
    problems, kernels = [], 0
    for m in re.finditer(r"\b__global__\b", text):
        # The definition's body starts at the first '{' after the parameter list; a ';' first
        # means a declaration.
        brace, semi = text.find("{", m.end()), text.find(";", m.end())
        if brace < 0 or (0 <= semi < brace):
            continue
        kernels += 1
        name = re.findall(r"(\w+)\s*\(", text[m.end():brace])
        first = text[brace + 1:].lstrip()
        if not first.startswith("gridDependencySync();"):
            line = text.count("\n", 0, m.start()) + 1
            problems.append(f"{path}:{line}: kernel '{name[-1] if name else '?'}' does not begin "
                            f"with gridDependencySync(); (it begins '{' '.join(first[:60].split())}')")
    return kernels, problems


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1])
        return 2
    kernels, problems = 0, []
    for path in sorted(pathlib.Path(sys.argv[1]).glob("*.cuh")):
        k, p = check(path)
        kernels += k
        problems += p
    for p in problems:
        print(p)
    if kernels == 0:
        print(f"no kernels found under {sys.argv[1]}")
        return 1
    print(f"{kernels} kernels checked, {len(problems)} without gridDependencySync first")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
