"""Facts about the machine a run happened on: cores, CPU model and flags, memory, versions, git revision;
and how to bind a process to cores."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time

from .paths import REPO_ROOT


def cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0))


def git_sha() -> str:
    """The repository's checked-out revision ('' outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def cpu() -> dict:
    """CPU model, cores, flags of interest (AVX2/AVX-512/VNNI/AMX), nominal clock, memory, git revision."""
    info = {"cores": cores()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        info["model"] = fields.get("Model name", "").strip()
        flags = fields.get("Flags", "").split()
        info["flags"] = sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "vnni", "avx512")))
        mhz = fields.get("CPU max MHz") or fields.get("CPU MHz") or ""
        if not mhz.strip() and fields.get("BogoMIPS"):
            mhz = str(float(fields["BogoMIPS"]) / 2)  # BogoMIPS is twice the clock on x86
        info["max_mhz"] = float(mhz) if mhz.strip() else 0.0
    except OSError:
        info["model"] = "unknown"
    info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    info["git_sha"] = git_sha()
    return info


def versions() -> dict:
    """Python and torch versions, architecture, processor, cores and git revision of this run."""
    import torch

    return {"git_sha": git_sha(), "python": platform.python_version(), "torch": torch.__version__,
            "machine": platform.machine(), "processor": platform.processor(), "cores": cores()}


def binding(core_ids: list[int]) -> tuple[list[str], str]:
    """Command prefix binding a process to ``core_ids`` (and their memory node) and its description."""
    cpus = ",".join(map(str, core_ids))
    if shutil.which("numactl"):
        probe = subprocess.run(["numactl", "--physcpubind", cpus, "--membind", "0", "true"], capture_output=True)
        if probe.returncode == 0:
            return ["numactl", "--physcpubind", cpus, "--membind", "0"], f"numactl --physcpubind {cpus} --membind 0"
    if shutil.which("taskset"):
        return ["taskset", "-c", cpus], f"taskset -c {cpus}"
    return [], "none (neither numactl nor taskset found)"


def busy_fraction(seconds: float = 0.5) -> float:
    """Share of CPU time the whole machine spent busy over ``seconds`` (from /proc/stat), 0 when unknown."""
    def snapshot():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        total0, idle0 = snapshot()
        time.sleep(seconds)
        total1, idle1 = snapshot()
    except OSError:
        return 0.0
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)
