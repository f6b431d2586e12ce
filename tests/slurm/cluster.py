"""A throw-away single-node SLURM cluster on this machine, for tests of `snakemake --executor slurm`.

Debian's `slurm-wlm` and `munge` are enough: a private munged (own key and socket), slurmctld and slurmd
on 127.0.0.1 with free ports, state, spool, pid and log files in one temporary folder, no accounting
database (jobs are polled with squeue; finished jobs stay visible for MinJobAge=600 s). Needs root.

    cluster = start_cluster()            # waits until sinfo shows the node idle
    subprocess.run(["sbatch", ...], env=cluster.env)
    stop_cluster(cluster)                # scancel, stop the daemons, remove the folder
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATE = Path(__file__).with_name("slurm.conf.in")
PARTITION = "llmtest"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scancel", "scontrol", "srun")
HEADROOM_MB = 2048  # memory slurm must not hand out (the OS, the test's own processes)


class ClusterError(RuntimeError):
    """The cluster did not come up; the message carries the daemons' log tails."""


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]
    partition: str
    node: str
    mem_mb: int
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def logs(self) -> dict[str, Path]:
        return {name: self.root / "log" / f"{name}.log" for name in DAEMONS}

    def log_tails(self, lines: int = 30) -> str:
        """The last lines of every daemon's log (and its stdout/stderr), for failure messages."""
        out = []
        for name, path in self.logs.items():
            # A daemon writes its log file once it has read the config; earlier errors only reach stdout.
            for p in (path, self.root / "log" / f"{name}.out"):
                if p.is_file() and p.stat().st_size:
                    tail = p.read_text(errors="replace").splitlines()[-lines:]
                    out.append(f"--- {p} ---\n" + "\n".join(tail))
                    break
        return "\n".join(out)

    def node_state(self) -> str:
        """`scontrol show node` (state and reason), or why it could not be had."""
        try:
            res = self.run("scontrol", "show", "node", self.node, timeout=10)
            return (res.stdout + res.stderr).strip()
        except (subprocess.SubprocessError, OSError) as e:
            return f"scontrol show node failed: {e}"

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """A SLURM client command against this cluster."""
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=timeout)


def missing_prerequisites() -> str | None:
    """Why this machine cannot run the test cluster, or None when it can."""
    if os.name != "posix" or os.geteuid() != 0:
        return "the test SLURM cluster must be started as root (slurmd runs jobs as their user)"
    missing = [cmd for cmd in (*DAEMONS, *CLIENTS) if shutil.which(cmd) is None]
    if missing:
        return (f"{', '.join(missing)} not installed "
                "(Debian: apt-get install slurm-wlm munge)")
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hardware() -> tuple[str, str, int]:
    """(node name, slurm.conf hardware fields, RealMemory) as `slurmd -C` sees this machine."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("NodeName="))
    fields = dict(kv.split("=", 1) for kv in line.split())
    node = fields["NodeName"]
    hw = " ".join(f"{k}={fields[k]}" for k in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket",
                                                "ThreadsPerCore") if k in fields)
    return node, hw, int(fields["RealMemory"])


def _render(root: Path, node: str, hw: str, mem_mb: int, munge_socket: Path) -> str:
    text = TEMPLATE.read_text(encoding="utf-8")
    values = {"ROOT": str(root), "HOST": node, "CTLD_PORT": str(_free_port()),
              "SLURMD_PORT": str(_free_port()), "MUNGE_SOCKET": str(munge_socket),
              "MEM_MB": str(mem_mb), "PARTITION": PARTITION, "NODE_HW": hw}
    return re.sub(r"@(\w+)@", lambda m: values[m.group(1)], text)


def _spawn(cluster: Cluster, name: str, argv: list[str]) -> None:
    out = open(cluster.root / "log" / f"{name}.out", "wb")  # noqa: SIM115 (closed with the process)
    try:
        cluster.procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=cluster.env,
                                               stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        out.close()


def _wait(cluster: Cluster, what: str, check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in cluster.procs.items():
            if proc.poll() is not None:
                raise ClusterError(f"{name} exited with status {proc.returncode} while waiting for {what}\n"
                                   + cluster.log_tails())
        try:
            if check():
                return
        except (subprocess.SubprocessError, OSError):
            pass
        time.sleep(0.5)
    raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}\n{cluster.node_state()}\n"
                       + cluster.log_tails())


def start_cluster(root: Path | None = None, timeout: float = 60) -> Cluster:
    """Start munged, slurmctld and slurmd under `root` (a new temporary folder by default).

    Returns once `sinfo` shows the node idle; raises ClusterError with the daemons' log tails otherwise
    (and stops whatever it started). `cluster.env` is os.environ with SLURM_CONF pointing at the cluster.
    """
    why = missing_prerequisites()
    if why:
        raise ClusterError(why)
    root = Path(root) if root else Path(tempfile.mkdtemp(prefix="llmslurm-"))
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)  # munged refuses key and socket folders others can write to
    node, hw, real_mb = _hardware()
    for sub in ("state", f"spool/slurmd-{node}", "run", "log", "munge", "bin"):
        (root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    mem_mb = max(1024, real_mb - HEADROOM_MB)
    munge_socket = root / "munge" / "munge.socket"
    conf = root / "slurm.conf"
    conf.write_text(_render(root, node, hw, mem_mb, munge_socket), encoding="utf-8")
    (root / "plugstack.conf").write_text("", encoding="utf-8")
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)

    # The jobstep plugin strips every SLURM_* variable, SLURM_CONF included, before its `srun` inside a
    # job; a real cluster has /etc/slurm/slurm.conf, this one has shims on PATH that point at its conf.
    for cmd in CLIENTS:
        shim = root / "bin" / cmd
        shim.write_text(f'#!/bin/sh\nSLURM_CONF="{conf}" exec {shutil.which(cmd)} "$@"\n', encoding="utf-8")
        shim.chmod(0o755)
    env = dict(os.environ, SLURM_CONF=str(conf),
               PATH=os.pathsep.join([str(root / "bin"), os.environ.get("PATH", "")]))
    for var in [v for v in env if v.startswith(("SLURM_", "SBATCH_", "SQUEUE_", "SRUN_"))]:
        if var != "SLURM_CONF":
            del env[var]  # a test run inside a real SLURM job must not leak its job into ours
    cluster = Cluster(root=root, env=env, partition=PARTITION, node=node, mem_mb=mem_mb)
    try:
        _spawn(cluster, "munged", [
            "munged", "--foreground", "--force", f"--socket={munge_socket}", f"--key-file={key}",
            f"--pid-file={root / 'run' / 'munged.pid'}", f"--log-file={cluster.logs['munged']}",
            f"--seed-file={root / 'munge' / 'munged.seed'}"])
        _wait(cluster, "the munge socket", munge_socket.exists, timeout)
        _spawn(cluster, "slurmctld", ["slurmctld", "-D", "-i", "-f", str(conf)])
        _wait(cluster, "slurmctld to answer", lambda: cluster.run("scontrol", "ping", timeout=10)
              .stdout.count("UP") > 0, timeout)
        _spawn(cluster, "slurmd", ["slurmd", "-D", "-f", str(conf), "-N", node])
        _wait(cluster, f"node {node} idle in sinfo", lambda: cluster.run(
            "sinfo", "--noheader", "--nodes", node, "--format=%t", timeout=10).stdout.strip() == "idle",
            timeout)
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def cancel_all(cluster: Cluster, timeout: float = 30) -> None:
    """scancel every job of the cluster and wait until none is running."""
    try:
        cluster.run("scancel", "--full", "--partition", cluster.partition, timeout=10)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = cluster.run("squeue", "--noheader", "--states=PENDING,RUNNING,COMPLETING,CONFIGURING,SUSPENDED",
                               "--format=%i", timeout=10).stdout.split()
            if not left:
                return
            time.sleep(0.5)
    except (subprocess.SubprocessError, OSError):
        pass


def stop_cluster(cluster: Cluster, remove: bool = True) -> None:
    """Cancel the jobs, stop the daemons this module started (by their process ids), remove the folder."""
    if cluster.procs.get("slurmctld") and cluster.procs["slurmctld"].poll() is None:
        cancel_all(cluster)
    for name in ("slurmd", "slurmctld", "munged"):
        proc = cluster.procs.get(name)
        if proc is None or proc.poll() is not None:
            continue
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    if remove:
        shutil.rmtree(cluster.root, ignore_errors=True)
