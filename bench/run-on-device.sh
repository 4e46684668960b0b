#!/bin/bash
# The benchmark suite on the GPU machine, in two steps.
#
# 1. On the CPU machine, after building (cmake --build build --target spdc spdcrt):
#      bench/run-on-device.sh stage
#    copies build/bin/spdc (stripped) and the Debian libraries it needs into .device/ (through
#    ../shared/gpu/stage.sh), libspdcrt beside it, and export_hf_models.py, which the suite runs
#    to export GPT-2 and Llama. .device/ must be ignored by git (.git/info/exclude) and stay under
#    the 64 MiB a device run carries.
#
# 2. The device run (carry: [".device"]), from the repository root:
#      bash bench/run-on-device.sh run [run.py options, e.g. --only attention]
#    which is
#      source .device/device-env.sh && export LD_LIBRARY_PATH=$PWD/.device/bin:$LD_LIBRARY_PATH &&
#      python3 bench/run.py --spdc .device/bin/spdc --export-script .device/export_hf_models.py --out-dir $OUT
#    It prints the ratio table last and leaves the JSON, the table and the logs in $OUT. Unlike the
#    plain command, the wrapper gives the staged libraries to spdc only (SPDC_LD_LIBRARY_PATH).
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."
shared=${SPDC_SHARED:-../shared}
dev=${SPDC_DEVICE_DIR:-.device}

case "${1:-}" in
  stage)
    "$shared/gpu/stage.sh" "$dev" build/bin/spdc
    cp -L build/lib/libspdcrt.so* "$dev/bin/"
    cp "$shared/gpu/export_hf_models.py" "$dev/"
    # The commit the binaries come from (the device copy of the tree has no reliable history).
    echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench' || echo -dirty)" \
      > "$dev/commit.txt"
    du -sh "$dev"
    ;;
  run)
    shift
    python_ld=${LD_LIBRARY_PATH:-}
    # shellcheck disable=SC1091
    source "$dev/device-env.sh"
    export LD_LIBRARY_PATH=$(realpath "$dev")/bin:${LD_LIBRARY_PATH:-}
    # spdc gets the staged Debian libraries; python, torch and the exports keep the machine's own
    # (run.py hands SPDC_LD_LIBRARY_PATH to the spdc processes only).
    export SPDC_LD_LIBRARY_PATH=$LD_LIBRARY_PATH
    [ -f "$dev/commit.txt" ] && export SPDC_COMMIT=$(cat "$dev/commit.txt")
    export LD_LIBRARY_PATH=$python_ld
    exec python3 bench/run.py --spdc "$dev/bin/spdc" --export-script "$dev/export_hf_models.py" \
      --out-dir "${OUT:-bench/results}" "$@"
    ;;
  *)
    awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$self"
    exit 2
    ;;
esac
