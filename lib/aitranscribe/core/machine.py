"""Facts about the machine a run happened on: cores, CPU model and flags, memory, versions, git revision;
and how to bind a process to cores."""
from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import time
from importlib import metadata

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


def git_dirty(outputs=("reports",), root=REPO_ROOT) -> bool | None:
    """Whether tracked files of the checkout at ``root`` differ from its revision, the ``outputs`` folders (which a
    run itself rewrites) left out; None outside a git checkout."""
    command = ["git", "status", "--porcelain", "--untracked-files=no", "--", "."]
    command += [f":(exclude){folder}" for folder in outputs]
    try:
        result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    except OSError:
        return None
    return bool(result.stdout.strip()) if result.returncode == 0 else None


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


@functools.lru_cache(maxsize=1)
def _own_flags() -> frozenset:
    """This machine's lscpu flags of interest, read once per process (the stage hash asks on every lookup)."""
    return frozenset(cpu().get("flags", []))


def native_bf16(flags=None) -> bool:
    """Whether the CPU multiplies bf16 natively (``avx512_bf16`` or AMX; lscpu ``flags``, this machine's if None):
    without it, bf16 matrix products are emulated and slower than fp32."""
    flags = _own_flags() if flags is None else set(flags)
    return bool(flags & {"avx512_bf16", "amx_bf16"})


PRECISIONS = ("fp32", "bf16", "int8")


def flops_per_cycle(flags, precision: str) -> int:
    """Nominal arithmetic operations per cycle and core for ``precision`` on a CPU with lscpu ``flags``.

    The one place the kit's peak figures come from. Counted as 2 operations per multiply-add, with two vector
    FMA pipes per core (every x86 server core since Haswell / Zen 2; Zen 4 runs 512-bit work on 256-bit halves,
    so its AVX-512 figures are an upper bound):

    * fp32: AVX-512 (``avx512f``) 2 pipes x 16 lanes x 2 = 64; AVX2 + FMA 2 x 8 x 2 = 32; else SSE 2 x 4 x 2 = 16.
    * bf16: AMX (``amx_bf16``) 1,024 (TDPBF16PS: a 16x32 by 32x16 tile product, 8,192 multiply-adds, every 16
      cycles);
      ``avx512_bf16`` (VDPBF16PS: two bf16 products per fp32 lane) 2x fp32 = 128; without either, bf16 is
      computed in fp32, so the fp32 figure.
    * int8: AMX (``amx_int8``) 2,048; VNNI (``avx512_vnni``: VPDPBUSD, four int8 products per 32-bit lane) 4x the
      AVX-512 fp32 figure = 256; ``avx_vnni`` on 256-bit vectors 4x the AVX2 figure = 128; without VNNI two
      instructions per int8 multiply-add pair, 2x fp32.
    """
    flags = set(flags)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    fp32 = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= flags else 16
    if precision == "fp32":
        return fp32
    if precision == "bf16":
        return 1024 if "amx_bf16" in flags else 2 * fp32 if "avx512_bf16" in flags else fp32
    if "amx_int8" in flags:
        return 2048
    if "avx512_vnni" in flags and "avx512f" in flags:
        return 4 * fp32
    if "avx_vnni" in flags:
        return 4 * 32
    return 2 * fp32


def peak_gflops(info: dict, precision: str, cores: int | None = None) -> float:
    """Nominal peak GFLOP/s (GOP/s for int8) of ``cores`` cores (default: ``info["cores"]``) for ``precision``.

    ``info`` is :func:`cpu`'s record: ``flags`` (lscpu) and ``max_mhz`` (lscpu's "CPU max MHz", or half the
    BogoMIPS, i.e. the TSC's nominal clock, in a VM that hides it). Peak = cores x clock (GHz) x
    :func:`flops_per_cycle`. Turbo clocks above the nominal one can make a measured fraction exceed what this
    suggests; 0.0 when the clock is unknown.
    """
    n = info.get("cores", 1) if cores is None else cores
    return n * info.get("max_mhz", 0.0) / 1000 * flops_per_cycle(info.get("flags", []), precision)


# the lscpu flags that decide the kit's arithmetic paths and peaks (native_bf16, flops_per_cycle)
ARITHMETIC_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
PACKAGES = ("torch", "openvino")  # the versions a run record names besides Python's


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name`` in this environment, None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def run_facts() -> dict:
    """What a run happens with: ``commit`` and ``dirty`` (:func:`git_dirty`), ``cpu`` (lscpu model, cores, the
    :data:`ARITHMETIC_FLAGS` it has) and ``versions`` (Python, torch, OpenVINO of this environment)."""
    info = cpu()
    return {"commit": info["git_sha"] or None, "dirty": git_dirty(),
            "cpu": {"model": info.get("model") or "unknown", "cores": info["cores"],
                    "flags": [f for f in ARITHMETIC_FLAGS if f in info.get("flags", [])]},
            "versions": {"python": platform.python_version(), **{name: package_version(name) for name in PACKAGES}}}


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
