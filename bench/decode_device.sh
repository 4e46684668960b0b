#!/bin/bash
# Device runs for the decode-attention work (bench/notes/decode.md), from the staged folder
# .device-dec/ (bin/spdc-kernel-gpu-test; bin/spdc, bin/libspdcrt.so.0.1, models/, debs/).
#   bench/decode_device.sh kernels   kernel correctness, the decode benchmark (back to back, then
#                                    each launch after a 256 MB write) and PyTorch SDPA on the
#                                    same card
#   bench/decode_device.sh spdc      spdc test --target=cuda on bench/decode_models.py's models
set -u
D=.device-dec
L=${OUT:-/tmp}
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader
if [ "$1" = kernels ]; then
  $D/bin/spdc-kernel-gpu-test > $L/kernels.log 2>&1; echo "kernels rc $?"
  grep -E "FAIL|passed" $L/kernels.log
  for k in split mma-per-lane mma mma-bulk mma-cluster; do
    echo "decode $k: $(grep -c "ok   attention_decode_$k " $L/kernels.log) ok"
  done
  # Each benchmark line is printed as it is measured (a hung variant leaves the others).
  timeout 120 $D/bin/spdc-kernel-gpu-test --bench-decode > $L/bench.log 2>&1
  timeout 120 $D/bin/spdc-kernel-gpu-test --bench-decode-flushed > $L/bench-flushed.log 2>&1
  PYTHONUNBUFFERED=1 timeout 120 python3 bench/decode_torch.py > $L/torch.log 2>&1
  echo "== summary"; cat $L/bench.log $L/bench-flushed.log $L/torch.log | grep -E "bench|torch|copy|rror"
else
  source $D/device-env.sh
  export LD_LIBRARY_PATH=$PWD/$D/bin:$LD_LIBRARY_PATH
  ln -sf libspdcrt.so.0.1 $D/bin/libspdcrt.so
  $D/bin/spdc test $D/models --target=cuda 2>&1 | tee $L/spdc-test.log
fi
