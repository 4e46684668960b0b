#!/usr/bin/env python3
"""Instruction histogram of address ranges of a `cuobjdump -sass` listing.

Counts the opcodes (with their modifiers; predicates dropped) of the instructions whose
addresses fall in the given [lo, hi) ranges, e.g. one key tile of the attention kernel's
consumer loop and its unmasked softmax:

    nvcc -O3 -std=c++17 -arch=sm_90a -cubin -I runtime/kernels/include \\
        bench/kernels/attention_profile.cu -o /tmp/a.cubin
    cuobjdump -sass /tmp/a.cubin > /tmp/a.sass
    bench/kernels/sass_histogram.py /tmp/a.sass --function 'ws_tma_kernel.*Li128ELi128' \\
        56f0 70d0 9330 99d0

The ranges come from reading the listing (the loop's back branch, the softmax's branches). The
CUDA toolkit's cuobjdump and nvdisasm are also on PyPI (nvidia-cuda-cuobjdump,
nvidia-cuda-nvdisasm) for machines whose toolkit lacks them.
"""
import argparse
import collections
import re
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sass", help="cuobjdump -sass output")
    p.add_argument("ranges", nargs="*", help="hex addresses lo hi [lo hi ...]; none: the whole function")
    p.add_argument("--function", help="regex on the function's mangled name (default: the first)")
    p.add_argument("--top", type=int, default=40, help="opcodes to print")
    args = p.parse_intermixed_args()
    if len(args.ranges) % 2:
        p.error("ranges come in pairs: lo hi")
    ranges = [(int(a, 16), int(b, 16)) for a, b in zip(args.ranges[::2], args.ranges[1::2])]

    counts, total, current, chosen = collections.Counter(), 0, None, None
    with open(args.sass) as f:
        for line in f:
            m = re.match(r"\s*Function : (\S+)", line)
            if m:
                current = m.group(1)
                if chosen is None and (args.function is None or re.search(args.function, current)):
                    chosen = current
                continue
            if current is None or current != chosen:
                continue
            m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?);", line)
            if not m:
                continue
            address = int(m.group(1), 16)
            if ranges and not any(lo <= address < hi for lo, hi in ranges):
                continue
            instruction = re.sub(r"^@!?U?P\w+\s+", "", m.group(2).strip())
            counts[instruction.split()[0]] += 1
            total += 1
    if chosen is None:
        sys.exit(f"{args.sass}: no function matches {args.function!r}")
    print(f"{chosen}: {total} instructions")
    for opcode, n in counts.most_common(args.top):
        print(f"{n:6d} {opcode}")


if __name__ == "__main__":
    main()
