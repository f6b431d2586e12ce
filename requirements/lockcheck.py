"""Read requirements/lock.txt (made by `make lock`) and compare it with a venv.

Used by the Makefile after installing (``python requirements/lockcheck.py --venv requirements/lock.txt``:
every locked package is installed at its locked version) and by tests/test_lock.py (which compares the
lock with pyproject.toml, the constraints and envs/*.yaml). Standard library only.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

NODEPS_MARK = "# ---- installed without their dependencies"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Pin:
    name: str
    version: str
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)
    nodeps: bool = False


def parse_lock(path: str | Path) -> dict[str, Pin]:
    """Every ``name==version`` entry of a hashed requirements file, by normalized name."""
    pins: dict[str, Pin] = {}
    cur: Pin | None = None
    nodeps = False
    in_via = False
    for line in Path(path).read_text().splitlines():
        if line.startswith(NODEPS_MARK):
            nodeps, cur = True, None
            continue
        m = _PIN.match(line)
        if m:
            cur = Pin(m.group(1), m.group(2), nodeps=nodeps)
            key = normalize(cur.name)
            if key in pins:
                raise ValueError(f"{path}: {cur.name} is pinned twice")
            pins[key] = cur
            in_via = False
        if cur is None:
            continue
        cur.hashes += _HASH.findall(line)
        s = line.strip()
        if s.startswith("# via"):
            in_via = True
            rest = s[len("# via"):].strip()
            if rest:
                cur.via.append(rest)
        elif in_via and s.startswith("#   "):
            cur.via.append(s[4:].strip())
        elif not s.startswith("--hash") and not m:
            in_via = False
    return pins


def check_venv(lock: str | Path) -> int:
    """0 when every locked package is installed at its locked version; lists what differs."""
    from importlib.metadata import distributions

    installed = {normalize(d.metadata["Name"]): d.version for d in distributions() if d.metadata["Name"]}
    pins = parse_lock(lock)
    bad = [f"  {p.name}: locked {p.version}, installed {installed.get(k, 'nothing')}"
           for k, p in sorted(pins.items()) if installed.get(k) != p.version]
    extra = sorted(set(installed) - set(pins) - {"pip", "llmcoder", "wheel"})
    if extra:
        print(f"note: installed but not in {lock} (left from an earlier install?): {', '.join(extra)}")
    if bad:
        print(f"The venv differs from {lock}:\n" + "\n".join(bad), file=sys.stderr)
        return 1
    print(f"venv = {lock} ({len(pins)} packages)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--venv":
        sys.exit(check_venv(sys.argv[2]))
    sys.exit("usage: python requirements/lockcheck.py --venv requirements/lock.txt")
