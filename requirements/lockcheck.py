"""Read requirements/lock.txt (made by `make lock`) and compare it with a venv.

Used by the Makefile after installing (``python requirements/lockcheck.py --venv requirements/lock.txt``:
every locked package is installed at its locked version; ``--optional LOCK`` adds the lock of an optional
extra whose packages may be installed, at their pinned versions) and by tests/test_lock.py (which compares the
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


def check_venv(lock: str | Path, optional: list[str | Path] | tuple = (),
               installed: dict[str, str] | None = None) -> int:
    """0 when every locked package is installed at its locked version; lists what differs.

    ``optional`` are the locks of optional extras (requirements/lock-models-extra.txt, ``make
    models-extra``): their packages need not be installed, but one that is must have its pinned version.
    """
    if installed is None:
        from importlib.metadata import distributions

        installed = {normalize(d.metadata["Name"]): d.version for d in distributions() if d.metadata["Name"]}
    pins = parse_lock(lock)
    bad = [f"  {p.name}: locked {p.version}, installed {installed.get(k, 'nothing')}"
           for k, p in sorted(pins.items()) if installed.get(k) != p.version]
    extras: dict[str, Pin] = {}
    for opt in optional:
        for k, p in parse_lock(opt).items():
            if k in pins:
                bad.append(f"  {p.name}: pinned in both {lock} and {opt}")
            elif k in installed and installed[k] != p.version:
                bad.append(f"  {p.name}: pinned {p.version} in {opt}, installed {installed[k]}")
            extras[k] = p
    extra = sorted(set(installed) - set(pins) - set(extras) - {"pip", "llmcoder", "wheel"})
    if extra:
        print(f"note: installed but not in {lock} (left from an earlier install?): {', '.join(extra)}")
    if bad:
        print(f"The venv differs from {lock}:\n" + "\n".join(bad), file=sys.stderr)
        return 1
    print(f"venv = {lock} ({len(pins)} packages)")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "--venv" and len(args) % 2 == 0 \
            and all(a == "--optional" for a in args[2::2]):
        sys.exit(check_venv(args[1], args[3::2]))
    sys.exit("usage: python requirements/lockcheck.py --venv requirements/lock.txt "
             "[--optional requirements/lock-models-extra.txt ...]")
