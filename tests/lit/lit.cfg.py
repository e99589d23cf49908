# lit configuration for atl's golden tests: DSL -> IR dumps, IR -> passes, CLI behaviour.
# Tests are .atl / .atlir / .test files whose RUN: lines use %atlc and FileCheck.
import os
import lit.formats

config.name = "atl"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".atl", ".atlir", ".test"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.atl_binary_dir, "tests", "lit")

config.substitutions.append(("%atlc", config.atlc_path))
config.substitutions.append(("%models", os.path.join(config.atl_source_dir, "models")))
config.substitutions.append(("%srcroot", config.atl_source_dir))
config.substitutions.append(("%examples", os.path.join(config.atl_source_dir, "examples")))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
config.environment["OPENBLAS_NUM_THREADS"] = "1"
# %python: a Python 3 with numpy (Debian's python3-numpy lives in /usr/bin/python3; a python3
# earlier in PATH, e.g. from pyenv, may lack it).
import subprocess
for candidate in ["/usr/bin/python3", "python3"]:
    try:
        if subprocess.call([candidate, "-c", "import numpy"], stderr=subprocess.DEVNULL) == 0:
            config.available_features.add("python-numpy")
            config.substitutions.append(("%python", candidate))
            break
    except OSError:
        pass
else:
    config.substitutions.append(("%python", "python3"))
# FileCheck, not, count from LLVM 19
config.environment["PATH"] = os.pathsep.join([config.llvm_tools_dir, config.environment.get("PATH", "")])

# mpi: atlc was built with -DATL_MPI=ON and mpirun is available
try:
    out = subprocess.run([config.atlc_path, "--version"], capture_output=True, text=True).stdout
    import shutil
    if "(mpi)" in out and shutil.which("mpirun"):
        config.available_features.add("mpi")
except OSError:
    pass
