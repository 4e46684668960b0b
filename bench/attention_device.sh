#!/bin/bash
# Device runs for the attention forward work (bench/notes/attention.md), from the staged folder
# .device/ (bench/run-on-device.sh stage, plus bin/spdc-kernel-gpu-test and
# bin/spdc-kernel-gpu-mma-test copied there).
#   bench/attention_device.sh kernels   the f16/bf16 attention kernel tests (sm_90a build and the
#                                       sm_90 mma.sync build), then the attention_fwd timings of
#                                       both kernels (default and warp-specialized) and PyTorch
#                                       SDPA (flash, cuDNN) on the same card in the same call
# Then the models:
#   python3 test/run-gpu-tests.py run .device/gpu-tests.json --bin .device/bin \
#       --only 'attention|models-cuda-bf16|dynamic-shapes'
#   bash bench/run-on-device.sh run --only 'attention|gpt2_124m_fwd|llama_1b'
# (--spdc-flags=--attention-in-place=false: the same rows with the previous choices)
#   bench/attention_device.sh flush APX WORK
#                                       what do_bench's flush costs the causal row: the harness's
#                                       tensor-copy kernel (APX/attprof_A, bench/kernels/variants/ab.sh
#                                       build) with nothing, 256 MiB written, 256 MiB read or a
#                                       100 us spin before each single launch; A against the L2
#                                       hints (APX/attprof_H) and the head groups of 8 and 32 MiB
#                                       (attprof_G, attprof_W) after the write; then `spdc bench`
#                                       on the suite's causal bundle (WORK: a run.py --work-dir)
#                                       flushed by 256 or 16 MB, without dependent launch, without
#                                       the CUDA graph
set -u
D=.device
L=${OUT:-/tmp}
case "${1:-}" in
  kernels)
    nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader
    for b in spdc-kernel-gpu-test spdc-kernel-gpu-mma-test; do
      timeout 200 $D/bin/$b --test-attention > $L/$b-attention.log 2>&1
      echo "$b --test-attention rc $?: $(tail -1 $L/$b-attention.log)"
      grep -E "^FAIL" $L/$b-attention.log | head -20
    done
    # Each benchmark line is printed as it is measured.
    timeout 150 $D/bin/spdc-kernel-gpu-test --bench-attention 2>&1 | grep bench | tee $L/bench.log
    PYTHONUNBUFFERED=1 timeout 120 python3 - <<'PY' 2>&1 | tee $L/torch.log
import sys
sys.path.insert(0, "bench")
import peers
timing = (50, 300)
for d in (128, 64):
    for causal in (False, True):
        b, h, s = 4, 16, 4096
        shapes = {n: (b, h, s, d) for n in ("q", "k", "v")}
        flops = 4 * b * h * s * s * d / (2 if causal else 1)
        for peer in peers.SDPA_BACKENDS:
            ms, _ = peers.attention_peer(peer, shapes, causal, timing)
            print(f"torch {peer} bf16 d{d}{' causal' if causal else ''}: {ms:.3f} ms, "
                  f"{flops / ms / 1e9:.1f} TFLOP/s", flush=True)
PY
    ;;
  flush)
    apx=$2 work=$3
    # Binaries carried compressed (xz) come out here.
    for f in "$apx"/attprof_*.xz; do
      [ -e "$f" ] && xz -d -f "$f"
    done
    chmod +x "$apx"/attprof_* 2>/dev/null
    nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader
    for f in "0" "256" "-256" "100 1"; do
      echo "A causal, before each launch [$f]: $(timeout 30 "$apx/attprof_A" 1 1 0 50 $f 2>&1 | tail -n 1)"
    done
    for round in 1 2; do
      for row in 1 0; do
        for v in A H G W; do
          [ -x "$apx/attprof_$v" ] &&
            echo "$v row $row round $round, 256 MiB written before each: $(timeout 30 "$apx/attprof_$v" $row 1 0 50 256 2>&1 | tail -n 1)"
        done
      done
    done
    bundle=$work/kernels/attention_causal_b4_h16_s4096_d128/model.spdc
    (
      # shellcheck disable=SC1091
      source $D/device-env.sh >/dev/null
      export LD_LIBRARY_PATH=$PWD/$D/bin:$LD_LIBRARY_PATH
      for opts in "--flush-l2-mb=256" "--flush-l2-mb=16" "--flush-l2-mb=256 --dependent-launch=false" \
                  "--flush-l2-mb=256 --no-cuda-graphs"; do
        # shellcheck disable=SC2086
        out=$(timeout 60 $D/bin/spdc bench "$bundle" --iters 200 $opts 2>&1)
        # The medians, or what went wrong.
        echo "spdc bench causal $opts: $( (grep median <<<"$out" || tail -n 1 <<<"$out") | tr '\n' ' ')"
      done
    )
    ;;
  *)
    awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"
    exit 2
    ;;
esac
