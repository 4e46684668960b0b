#!/bin/bash
# Builds attention_profile once per kernel variant and times the variants alternating, on the
# GPU machine. Variants are "name:patch[+patch...]:nvcc flags" (patch names relative to this
# folder, applied in order to a copy of runtime/kernels/include; "-" for none).
#
#   bench/kernels/variants/ab.sh build OUT_DIR "A:-:" "S:-:-DSPDC_ATTENTION_RESCALE_SLACK=-1" "N:my-change.patch:"
#   (device run, carry OUT_DIR) bash bench/kernels/variants/ab.sh run OUT_DIR "0 1 6 2" A S N
#
# `run` takes attention_profile's rows (0: B4 H16 S4096 D128, 1: its causal form, 6: B64 S1024,
# 2: GPT-2's D64 causal; see attention_profile.cu) and times each variant's tensor-copy kernel
# on each row, alternating, in two rounds (each run's last line: its timings). A binary built
# with the probe patch (a13a73a:bench/kernels/variants/04-item-probe.patch) also prints clock64
# stamps of block 0's first items before that line: run it directly to see them. AB_ARGS
# replaces attention_profile's arguments after the row ("1 0 50": tensor copies, random inputs,
# 50 launches back to back; e.g. "1 0 50 256" clears L2 as do_bench does before each single
# launch).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
case "${1:-}" in
  build)
    out=$2
    shift 2
    mkdir -p "$out"
    for spec in "$@"; do
      IFS=: read -r name patches flags <<<"$spec"
      tmp=$(mktemp -d)
      mkdir -p "$tmp/runtime/kernels" "$tmp/bench/kernels"
      cp -r "$root/runtime/kernels/include" "$tmp/runtime/kernels/"
      cp "$root/bench/kernels/attention_profile.cu" "$root/bench/kernels/check.h" "$tmp/bench/kernels/"
      if [ "$patches" != "-" ]; then
        IFS=+ read -ra list <<<"$patches"
        for p in "${list[@]}"; do
          (cd "$tmp" && patch -s -p1 <"$here/$p")
        done
      fi
      # shellcheck disable=SC2086
      nvcc -O3 -std=c++17 -arch=sm_90a -I "$tmp/runtime/kernels/include" $flags \
        "$tmp/bench/kernels/attention_profile.cu" -o "$out/attprof_$name" \
        -L/usr/local/cuda/lib64/stubs -lcuda
      rm -rf "$tmp"
      echo "built $out/attprof_$name"
    done
    ;;
  run)
    out=$2
    rows=$3
    shift 3
    nvidia-smi --query-gpu=name,clocks.sm,clocks.mem --format=csv,noheader || true
    for round in 1 2; do
      for r in $rows; do
        for v in "$@"; do
          printf "%s row %s round %s: " "$v" "$r" "$round"
          # shellcheck disable=SC2086
          "$out/attprof_$v" "$r" ${AB_ARGS:-1 0 50} 2>&1 | tail -n 1
        done
      done
    done
    ;;
  *)
    awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"
    exit 2
    ;;
esac
