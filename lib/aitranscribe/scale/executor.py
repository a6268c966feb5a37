"""Where sharded work runs: in this process (``executor: local``) or on Ray workers (``executor: ray``).

:func:`run` takes shards (:mod:`.shards`), a ``factory`` and its keyword arguments: ``factory(**kwargs)`` builds one
worker's ``process(shard) -> (payload, bad items)`` once (its model, extractor or graphs are loaded once per worker),
and every shard without a valid done-marker goes through it; the worker writes the shard's output and marker itself.
The same factory and process run in either executor. With the same number of torch/BLAS threads
(``worker_threads`` > 0 in both) a sharded run writes exactly what a local run writes (numpy's BLAS gives last-bit
different MFCC with another thread count); ``worker_threads: 0`` (the default) leaves a local run on the process's
own threads, as before sharding existed, and gives each Ray worker one.

With Ray, ``ray_workers`` actors are started (``worker_threads`` CPUs and torch/BLAS threads each) on the cluster at
``ray_address`` (empty: a local cluster on this machine, started once per process, no dashboard, no usage stats,
bound to 127.0.0.1). Shards are handed to whichever worker is free. A worker that dies (its process or its node killed)
loses only the shard in progress: that shard goes to another worker (at most :data:`ATTEMPTS` times). A shard that
fails is named with its reason when the run ends, after every other shard is done; a rerun then processes only the
shards without a marker, and so does a rerun after the driver itself was killed.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from ..core.errors import KitError
from . import shards as sh

log = logging.getLogger(__name__)

ATTEMPTS = 2  # a shard whose worker died is given to another worker once more
OBJECT_STORE_BYTES = 200 * 2**20  # shards return only their markers; their outputs go to files
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class Settings:
    """``executor`` (``local`` or ``ray``), ``address`` ('' starts a local cluster), ``workers``, ``threads`` (0: the
    process's own threads locally, one per Ray worker)."""

    executor: str = "local"
    address: str = ""
    workers: int = 2
    threads: int = 0

    @property
    def worker_threads(self) -> int:
        """Threads of one Ray worker."""
        return self.threads or 1

    @classmethod
    def of(cls, p: dict) -> "Settings":
        """The settings of a stage's parameters (the common ``executor``, ``ray_*`` ones)."""
        settings = cls(p.get("executor", "local"), p.get("ray_address", ""), p.get("ray_workers", 2),
                       p.get("worker_threads", 0))
        if settings.executor not in ("local", "ray"):
            raise KitError(f"executor must be 'local' or 'ray', got {settings.executor!r}")
        if settings.workers < 1 or settings.worker_threads < 0:
            raise KitError(f"ray_workers must be at least 1 and worker_threads at least 0, got {settings.workers} "
                           f"and {settings.worker_threads}")
        return settings


@dataclass
class Report:
    """What a run did: every shard's marker ``records`` (shard order), the shards ``processed`` now and those
    ``skipped`` (already done), the ``workers`` used, their ``startup_seconds`` and the processing ``seconds``."""

    records: list[dict]
    processed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    workers: int = 1
    startup_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def bad(self) -> list[dict]:
        return sh.bad_items(self.records)


def _where() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def process_shard(process, shard: sh.Shard, worker: str) -> dict:
    """Run ``process`` on one shard and write its output and marker; the marker's record."""
    start = time.time()
    payload, bad = process(shard)
    return sh.write(shard, payload, bad, time.time() - start, worker)


@contextlib.contextmanager
def limited_threads(threads: int):
    """numpy's BLAS and torch limited to ``threads`` threads inside the block (restored after it); 0: no limit."""
    if not threads:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            yield
    finally:
        torch.set_num_threads(before)


class ShardWorker:
    """One worker process with ``threads`` torch/BLAS threads. :meth:`prepare` builds a run's ``factory(**kwargs)``
    (one model per worker) before the run's shards arrive; the process itself is reused from run to run, so a stage
    pays the worker's start-up once."""

    def __init__(self, threads: int | None):
        if threads:
            from threadpoolctl import threadpool_limits

            import torch

            threadpool_limits(threads)  # numpy's BLAS was loaded before this ran: limited here, not by variables
            torch.set_num_threads(threads)
        self.where = _where()
        self.token, self.process = None, None

    def ready(self) -> str:
        return self.where

    def prepare(self, token: str, factory: Callable, kwargs: dict) -> str:
        self.token, self.process = None, None  # free the previous run's model first
        self.process, self.token = factory(**kwargs), token
        return self.where

    def run(self, token: str, shard: sh.Shard) -> dict:
        if token != self.token:
            raise KitError(f"worker {self.where} was not prepared for this run")
        return process_shard(self.process, shard, self.where)


def run(shards: list[sh.Shard], factory: Callable, kwargs: dict, settings: Settings, desc: str,
        retry_bad: bool = True) -> Report:
    """Process every shard of ``shards`` (unique names) that is not done (see the module docstring); return the
    :class:`Report`.
    Raises :class:`KitError` naming the shards that failed (the others are done and kept)."""
    done = [sh.is_done(s, retry_bad) for s in shards]
    todo = [s for s, d in zip(shards, done) if not d]
    skipped = [s.name for s, d in zip(shards, done) if d]
    if skipped:
        log.info("%s: %d of %d shards already done, reused", desc, len(skipped), len(shards))
    report = Report(records=[], skipped=skipped, workers=0)
    failures: dict[str, str] = {}
    if todo:
        if settings.executor == "ray":
            _run_ray(todo, factory, kwargs, settings, desc, report, failures)
        else:
            _run_local(todo, factory, kwargs, settings, desc, report, failures)
    report.records = [sh.marker(s) for s in shards]
    for shard, record, was_done in zip(shards, report.records, done):
        for b in record["bad"] if record and not was_done else ():
            log.error("bad input: %s: %s", b["item"], b["reason"])
    if failures:
        listed = "; ".join(f"shard {name}: {reason}" for name, reason in failures.items())
        raise KitError(f"{desc}: {len(failures)} of {len(shards)} shards failed ({listed}); the {len(shards) - len(failures)} "
                       f"done are kept with their markers, and a rerun processes only the others")
    return report


def _run_local(todo, factory, kwargs, settings: Settings, desc, report: Report, failures: dict) -> None:
    from tqdm.auto import tqdm

    with limited_threads(settings.threads):  # as a Ray worker computes
        start = time.time()
        process = factory(**kwargs)
        report.workers, report.startup_seconds = 1, round(time.time() - start, 3)
        start, where = time.time(), _where()
        for shard in tqdm(todo, desc=desc, unit="shard"):
            try:
                process_shard(process, shard, where)
                report.processed.append(shard.name)
            except Exception as exc:  # noqa: BLE001 - named at the end; the other shards go on
                failures[shard.name] = f"{type(exc).__name__}: {exc}"
                log.error("%s: shard %s failed: %s", desc, shard.name, failures[shard.name])
        report.seconds = round(time.time() - start, 3)


def connect(settings: Settings) -> None:
    """Join the Ray cluster at ``settings.address``, or start a local one (once per process: later calls reuse it).
    Usage statistics off, no dashboard, everything on 127.0.0.1."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    host = settings.address.rsplit(":", 1)[0]
    if host in ("", "127.0.0.1", "localhost"):
        # a cluster on this machine stays on loopback: Ray would otherwise resolve 127.0.0.1 to the machine's
        # outward address (read when ray is first imported)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise KitError("executor 'ray' needs the ray package (pinned in environment-stock.yml): "
                       "run `bash run_all.sh --setup-only`") from None
    if ray.is_initialized():
        return
    common = {"configure_logging": False, "log_to_driver": False, "namespace": "aitranscribe"}
    try:
        if settings.address:
            ray.init(address=settings.address, **common)
        else:
            ray.init(address="local", num_cpus=max(settings.workers * settings.worker_threads, os.cpu_count() or 1),
                     include_dashboard=False,
                     object_store_memory=OBJECT_STORE_BYTES, _node_ip_address="127.0.0.1", **common)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {settings.address}" if settings.address else "a local Ray cluster"
        raise KitError(f"could not start or join {where}: {exc}") from None
    log.info("ray: %s, %s CPUs", settings.address or "local cluster", ray.cluster_resources().get("CPU"))


_POOL: dict[tuple, list] = {}  # live workers of this process, by (address, threads)


def workers(settings: Settings, n: int) -> list:
    """``n`` live Ray workers (started on first use, then reused by every run of this process)."""
    import ray
    from ray.exceptions import RayActorError

    connect(settings)
    pool = _POOL.setdefault((settings.address, settings.worker_threads), [])
    alive = []
    for actor in pool:
        try:
            ray.get(actor.ready.remote(), timeout=60)
            alive.append(actor)
        except (RayActorError, ray.exceptions.GetTimeoutError):
            pass
    cpus = ray.cluster_resources().get("CPU", 0)
    if cpus and n * settings.worker_threads > cpus:
        fit = max(1, int(cpus // settings.worker_threads))
        log.warning("ray: the cluster has %d CPUs, not enough for %d workers x %d threads: %d workers", cpus, n,
                    settings.worker_threads, fit)
        n = fit
    remote = ray.remote(ShardWorker).options(num_cpus=settings.worker_threads, max_restarts=0)
    started = [remote.remote(settings.worker_threads) for _ in range(max(0, n - len(alive)))]
    for actor in started:
        try:
            ray.get(actor.ready.remote())
            alive.append(actor)
        except RayActorError as exc:
            log.warning("ray: a worker could not start: %s", str(exc).strip().splitlines()[-1][:200])
    if not alive:
        raise KitError("no Ray worker could start (see the warnings above)")
    _POOL[(settings.address, settings.worker_threads)] = alive
    return alive[:n]


def _run_ray(todo, factory, kwargs, settings: Settings, desc, report: Report, failures: dict) -> None:
    import ray
    from ray.exceptions import RayActorError, RayTaskError
    from tqdm.auto import tqdm

    start, token = time.time(), f"{os.getpid()}-{time.time_ns()}"
    ready = []
    for actor in workers(settings, min(settings.workers, len(todo))):
        ready.append((actor, actor.prepare.remote(token, factory, kwargs)))
    prepared, errors = [], []
    for actor, ref in ready:
        try:
            ray.get(ref)
            prepared.append(actor)
        except (RayActorError, RayTaskError) as exc:
            errors.append(str(getattr(exc, "cause", None) or exc).strip().splitlines()[-1])
    if not prepared:
        raise KitError(f"{desc}: no Ray worker could prepare this run: {errors[0]}")
    report.workers, report.startup_seconds = len(prepared), round(time.time() - start, 3)
    log.info("%s: %d Ray worker(s) ready in %.1f s for %d shard(s)", desc, len(prepared), report.startup_seconds,
             len(todo))

    start = time.time()
    queue, attempts, inflight, idle = deque(todo), {}, {}, list(prepared)
    with tqdm(total=len(todo), desc=desc, unit="shard") as bar:
        while queue or inflight:
            while idle and queue:
                actor, shard = idle.pop(), queue.popleft()
                attempts[shard.name] = attempts.get(shard.name, 0) + 1
                inflight[actor.run.remote(token, shard)] = (actor, shard)
            if not inflight:  # every worker died with shards left
                for shard in queue:
                    failures[shard.name] = "no Ray worker left to process it"
                break
            (ref,), _ = ray.wait(list(inflight), num_returns=1)
            actor, shard = inflight.pop(ref)
            try:
                ray.get(ref)
                report.processed.append(shard.name)
                idle.append(actor)
                bar.update()
            except RayActorError as exc:  # the worker died (process or node killed): its shard goes elsewhere
                log.warning("%s: the worker processing shard %s died (%s)", desc, shard.name,
                            str(exc).strip().splitlines()[0][:200])
                if attempts[shard.name] < ATTEMPTS:
                    queue.append(shard)
                else:
                    failures[shard.name] = f"its worker died {ATTEMPTS} times"
            except RayTaskError as exc:
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                failures[shard.name] = f"{type(cause).__name__}: {cause}"
                log.error("%s: shard %s failed: %s", desc, shard.name, failures[shard.name])
                idle.append(actor)
    report.seconds = round(time.time() - start, 3)


def release_workers() -> None:
    """Stop this process's Ray workers, so their CPUs go back to the cluster (the next run starts new ones)."""
    import ray

    for pool in _POOL.values():
        for actor in pool:
            try:
                ray.kill(actor)
            except Exception:  # noqa: BLE001 - already gone
                pass
    _POOL.clear()


def shutdown() -> None:
    """Stop this process's Ray workers and leave the cluster (a local cluster started here stops with it)."""
    import ray

    if ray.is_initialized():
        release_workers()
        ray.shutdown()
