# lit configuration of spdc's IR tests: importer (ONNX text → spd), dialect verifiers, passes,
# and diagnostics on bad input.

import os

import lit.formats
from lit.llvm import llvm_config

config.name = "spdc"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".onnxtxt", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs", "unittests",
                   "conformance", "models", "make_tests.py", "make_model.py", "make_corpus.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.spdc_obj_root, "test")

config.substitutions.append(("%spdc_src", config.spdc_src_root))
llvm_config.with_system_environment(["HOME", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

tool_dirs = [config.spdc_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["spdc", "spdc-opt"], tool_dirs)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

# Caches (the compile cache of bundles, the runtime's JIT cache) stay inside the build tree.
config.environment["XDG_CACHE_HOME"] = os.path.join(config.test_exec_root, "xdg-cache")
