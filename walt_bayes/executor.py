"""Run independent tasks serially, on a local Dask cluster, or on an existing Dask scheduler.

One small helper shared by ``walt-bayes grid``, ``walt-bayes sbc`` and
``walt-bayes compare --method kfold``:

``serial``
    In this process, one task after another (the reference for "identical results").
``processes``
    A ``dask.distributed.LocalCluster`` of worker *processes* on this machine, one
    thread each (``threads_per_worker=1``), started and stopped around the work.
    With ``fork=True`` (Linux) the workers are forked from this process instead
    of spawned: they start with everything this process has imported and cached
    (for SBC: PyMC, nutpie and the compiled model), which would otherwise cost
    every worker the same seconds of imports and compilation again.  A worker
    that dies and is replaced later is spawned bare (tasks must not rely on the
    inherited state, only profit from it).
``tcp://HOST:PORT``
    An existing Dask scheduler (its workers must have walt-bayes installed and
    read/write access to the same paths as this process).

Core pinning (no oversubscription): every task is told how many cores it has
(:attr:`Executor.cores_per_task`: 1 on Dask workers, all of them in serial mode)
and passes that number to nutpie (``cores=``, the threads that run chains).
Worker processes start with ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``,
``OPENBLAS_NUM_THREADS`` and ``NUMBA_NUM_THREADS`` set to 1 (:data:`PIN_ENV`,
passed to the Dask nanny); :func:`pin_threads`, called at the start of every
task, also limits already-loaded BLAS/OpenMP pools (threadpoolctl) and numba's
thread pool, for workers started by hand without those variables.

A task that raises is reported (:class:`Outcome` with a one-line error) and the
others go on.  A worker that dies mid-task (killed, out of memory) is replaced
by its nanny and Dask reschedules the task on a live worker (up to
``distributed.scheduler.allowed-failures`` times, default 3); tasks therefore
write their outputs atomically and are safe to re-run.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import signal
import sys
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from walt_bayes.errors import WaltError

#: Environment of Dask worker processes: one thread per numeric library.
PIN_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}
#: Variables passed on to workers when set here (compile caches, data mirror).
FORWARDED_ENV = ("PYTENSOR_FLAGS", "NUMBA_CACHE_DIR", "WALT_BAYES_MIRROR", "WALT_BAYES_CACHE")
SCHEDULER_HELP = "serial (this process), processes (a local Dask cluster) or tcp://HOST:PORT."


@dataclass
class Outcome:
    """What one task gave: its value, or the one-line error that stopped it."""

    key: str
    ok: bool
    value: Any = None
    error: str = ""


def parse_scheduler(scheduler: str | None) -> str:
    """Validate a ``--scheduler`` value; returns ``serial``, ``processes`` or the tcp address."""
    value = (scheduler or "serial").strip()
    if value in ("serial", "processes"):
        return value
    if value.startswith("tcp://") and ":" in value[len("tcp://") :]:
        host, _, port = value[len("tcp://") :].rpartition(":")
        if host and port.isdigit():
            return value
    raise WaltError(f"--scheduler: '{scheduler}' is not serial, processes or tcp://HOST:PORT")


def one_line(err: BaseException) -> str:
    """An exception as one line: ``Type: message``."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def pin_threads(cores: int = 1) -> None:
    """Limit this process's numeric thread pools to ``cores`` threads.

    Environment variables only act on libraries loaded afterwards, so pools that
    are already running (BLAS through threadpoolctl, numba) are limited directly too.
    """
    for name in PIN_ENV:
        # numba refuses a changed NUMBA_NUM_THREADS once its pool runs; set_num_threads below covers it.
        if name != "NUMBA_NUM_THREADS" or "numba" not in sys.modules:
            os.environ[name] = str(cores)
    with contextlib.suppress(ImportError):
        # lazy: threadpoolctl is optional (no dependency of walt-bayes); absent, the variables pin
        from threadpoolctl import threadpool_limits

        threadpool_limits(cores)
    if "numba" in sys.modules:
        with contextlib.suppress(Exception):  # its pool may not be launched yet
            # lazy: numba (~2 s) stays off the CLI's start-up (it imports this module); only once loaded
            import numba

            numba.set_num_threads(max(1, min(cores, numba.config.NUMBA_NUM_THREADS)))


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under ``taskset``; else the machine's)."""
    with contextlib.suppress(AttributeError, OSError):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether local workers may be forked: Linux only (macOS system libraries are not fork-safe)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


#: True while :func:`_start_method` forks workers; a child inherits the value of its fork.
_FORKING_WORKERS = False


def _default_signals_in_forked_worker() -> None:
    """After every fork: in a forked worker, Python's default SIGINT/SIGTERM handling.

    A spawned worker starts with it; a forked one would inherit this process's
    handlers (the CLI's turn SIGTERM into ``KeyboardInterrupt`` and mark the
    process as interrupted), which are not the worker's to run.
    """
    if _FORKING_WORKERS:
        with contextlib.suppress(ValueError):  # only the main thread may set handlers
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_default_signals_in_forked_worker)


@contextlib.contextmanager
def _start_method(fork: bool):
    """Have Dask nannies started inside this block fork their worker (else: Dask's default, spawn).

    The setting is read when a nanny starts its worker process, so a worker that
    is replaced after this block (it died) is spawned bare, which is always safe.
    """
    global _FORKING_WORKERS
    if not fork:
        yield
        return
    # lazy: Dask (~0.6 s) stays off the CLI's start-up (it imports this module) and serial runs
    import dask

    with (
        dask.config.set({"distributed.worker.multiprocessing-method": "fork"}),
        warnings.catch_warnings(),
    ):
        # Python 3.12 warns on fork() from a process with threads (Dask's event loop
        # thread here).  The child only runs Dask's worker bootstrap and tasks; this
        # process holds no lock the child needs while it forks (no compile, no sampling).
        warnings.filterwarnings("ignore", message=r".*fork\(\) may lead to deadlocks.*")
        _FORKING_WORKERS = True
        try:
            yield
        finally:
            _FORKING_WORKERS = False


def worker_env(forked: bool = False) -> dict[str, str]:
    """Environment for local worker processes: :data:`PIN_ENV` plus the caches set here.

    Parameters
    ----------
    forked : bool
        For workers forked from this process.  Once numba is loaded here, they
        inherit its thread count, and a different ``NUMBA_NUM_THREADS`` in their
        environment makes numba raise on its next use (it re-reads the variable),
        inside compiled model code too; :func:`pin_threads` limits their pool instead.
    """
    env = dict(PIN_ENV)
    if forked and "numba" in sys.modules:
        del env["NUMBA_NUM_THREADS"]
    env.update({k: os.environ[k] for k in FORWARDED_ENV if k in os.environ})
    return env


class Executor:
    """Run a function over many independent tasks (see the module docstring).

    Parameters
    ----------
    scheduler : str
        ``serial``, ``processes`` or ``tcp://HOST:PORT``.
    workers : int, optional
        Worker processes of a local cluster (default: the cores, at most the tasks).
    cores_per_task : int, optional
        Cores each task may use (default 1 on Dask, every core in serial mode).
    fork : bool
        Start the workers of a local cluster by forking this process (see the
        module docstring); ignored for ``serial`` and ``tcp://`` and where the
        platform has no safe ``fork``.

    Use as a context manager::

        with Executor("processes", workers=2) as ex:
            outcomes = ex.map(fn, {"a": task_a, "b": task_b})
    """

    def __init__(
        self,
        scheduler: str = "serial",
        workers: int | None = None,
        cores_per_task: int | None = None,
        fork: bool = False,
    ):
        self.scheduler = parse_scheduler(scheduler)
        self.fork = fork and self.scheduler == "processes" and can_fork()
        if workers is not None and workers < 1:
            raise WaltError(f"--workers {workers}: need at least one worker")
        self.workers = workers
        self._cores = cores_per_task
        self.client = None
        self._cluster = None

    @property
    def serial(self) -> bool:
        return self.scheduler == "serial"

    @property
    def cores_per_task(self) -> int:
        if self._cores is not None:
            return int(self._cores)
        return available_cores() if self.serial else 1

    def describe(self) -> str:
        """One phrase for progress messages."""
        if self.serial:
            return "serially in this process"
        if self.client is None:
            return self.scheduler
        n = len(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        where = (
            "local Dask cluster"
            if self.scheduler == "processes"
            else f"Dask scheduler {self.scheduler}"
        )
        return f"{where} ({n} worker{'s' if n != 1 else ''})"

    def start(self, n_tasks: int | None = None) -> Executor:
        """Start (or connect to) the Dask cluster; a no-op in serial mode."""
        if self.serial or self.client is not None:
            return self
        # lazy: dask.distributed (~2 s) stays off the CLI's start-up (it imports this module)
        from distributed import Client, LocalCluster

        if self.scheduler == "processes":
            cores = available_cores()
            n = self.workers or max(1, min(cores, n_tasks or cores))
            with _start_method(self.fork):
                self._cluster = LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    env=worker_env(forked=self.fork),
                    silence_logs=logging.CRITICAL,  # failures are reported per task
                )
            self.client = Client(self._cluster)
        else:
            try:
                self.client = Client(self.scheduler, timeout="20s")
            except (OSError, TimeoutError) as err:
                raise WaltError(
                    f"--scheduler {self.scheduler}: cannot connect ({one_line(err)})"
                ) from err
        return self

    def warm(self, modules: Iterable[str]) -> None:
        """Import ``modules`` on every worker in the background (overlaps with work done here).

        A no-op in serial mode.  Worker processes start bare: importing PyMC,
        nutpie and ArviZ takes seconds, which this moves off the critical path.
        """
        if self.serial:
            return
        self.start()
        with contextlib.suppress(Exception):  # only an optimisation
            self.client.run(_import_all, list(modules), wait=False)

    def close(self) -> None:
        """Disconnect, and stop a local cluster this executor started."""
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()
        self.client = self._cluster = None

    def __enter__(self) -> Executor:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def map(
        self,
        fn: Callable[[Any], Any],
        tasks: dict[str, Any] | Iterable[tuple[str, Any]],
        on_done: Callable[[Outcome], None] | None = None,
    ) -> dict[str, Outcome]:
        """Call ``fn(task)`` for every task; return ``{key: Outcome}`` in the tasks' order.

        Parameters
        ----------
        fn : callable
            A module-level function (Dask pickles it by reference).
        tasks : dict or iterable of (key, task)
            Picklable task arguments, by a unique key.
        on_done : callable, optional
            Called with each :class:`Outcome` as it finishes (completion order).

        Returns
        -------
        dict
            One :class:`Outcome` per key.  An exception inside a task becomes a
            failed outcome; the other tasks still run.  ``KeyboardInterrupt``
            (and a closed cluster) propagate.
        """
        items = list(tasks.items()) if isinstance(tasks, dict) else list(tasks)
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise WaltError("tasks must have unique keys")
        done: dict[str, Outcome] = {}

        def record(outcome: Outcome) -> None:
            done[outcome.key] = outcome
            if on_done is not None:
                on_done(outcome)

        if self.serial:
            for key, task in items:
                try:
                    record(Outcome(key, True, fn(task)))
                except Exception as err:
                    record(Outcome(key, False, error=one_line(err)))
            return {k: done[k] for k in keys}

        # lazy: dask.distributed (~2 s) stays off the CLI's start-up (it imports this module)
        from distributed import as_completed

        self.start(len(items))
        token = uuid.uuid4().hex[:8]
        futures = {
            self.client.submit(
                fn, task, key=f"walt-{_safe_key(key)}-{token}", pure=False, retries=0
            ): key
            for key, task in items
        }
        try:
            for fut in as_completed(list(futures)):
                key = futures[fut]
                if fut.status == "finished":
                    record(Outcome(key, True, fut.result()))
                else:
                    err = fut.exception()
                    record(Outcome(key, False, error=one_line(err)))
        finally:
            for fut in futures:
                fut.release()
        return {k: done[k] for k in keys}


def _import_all(modules: list[str]) -> None:
    for name in modules:
        importlib.import_module(name)


def _safe_key(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(key))


__all__ = [
    "PIN_ENV",
    "SCHEDULER_HELP",
    "Executor",
    "Outcome",
    "available_cores",
    "can_fork",
    "one_line",
    "parse_scheduler",
    "pin_threads",
]
