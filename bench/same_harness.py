#!/usr/bin/env python3
"""spdc bundles timed by the peers' do_bench, in a python process of their own.

run.py starts this once, after its rows, with every bundle it timed through `spdc bench`; each
bundle is loaded through libspdcrt (bench/spdc_ctypes.py) and timed by peers.spdc_in_process,
which is do_bench as the peers get it (torch's flush kernel, events, stream). A process of its
own keeps a failure of the library in this process (a CUDA library clash, a crash) away from
the run's results. Prints one JSON object per bundle:
    {"bundle": ..., "ms": ..., "back_to_back_ms": ...} or {"bundle": ..., "error": ...}

    python3 bench/same_harness.py --lib build/lib/libspdcrt.so --cache-dir DIR \
        WARMUP_MS:REP_MS:BUNDLE [...]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lib", required=True, help="libspdcrt.so")
    p.add_argument("--cache-dir", help="the runtime's JIT cache")
    p.add_argument("--no-dependent-launch", dest="dependent_launch", action="store_false")
    p.add_argument("specs", nargs="+", help="WARMUP_MS:REP_MS:BUNDLE")
    args = p.parse_args(argv)
    import peers
    for spec in args.specs:
        warmup, rep, bundle = spec.split(":", 2)
        out = {"bundle": bundle}
        try:
            peers.last_back_to_back_ms = None
            out["ms"] = peers.spdc_in_process(args.lib, bundle, (float(warmup), float(rep)),
                                              cache_dir=args.cache_dir,
                                              dependent_launch=args.dependent_launch)
            out["back_to_back_ms"] = peers.last_back_to_back_ms
        except Exception as e:  # noqa: BLE001  (reported per bundle)
            out["error"] = f"{type(e).__name__}: {e}"[:300]
        finally:
            try:
                peers.free_memory()
            except Exception:  # noqa: BLE001  (nothing to give back)
                pass
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
