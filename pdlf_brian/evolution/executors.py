"""Where shards of a population are evaluated: in this process, a local process pool, or Dask."""
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from pdlf_brian.errors import ConfigError

#: Seconds between a worker's checks that the process which started it is still alive.
PARENT_CHECK_SECONDS = 2.0


def _exit_with_parent(parent, interval):
    """Worker initializer: end this worker once ``parent`` is gone.

    A pool's workers otherwise outlive a killed parent and go on training into the same run
    directories as the next invocation.
    """
    def watch():
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def process_pool(workers, interval=PARENT_CHECK_SECONDS):
    """A pool of ``workers`` spawned processes (Brian2's device state is per process) that exit when
    the process that made the pool dies."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_exit_with_parent, initargs=(os.getpid(), interval))


def evaluate_shard(problem, genomes, seed):
    """Evaluate one shard (module-level so that it pickles by reference)."""
    return problem.evaluate(genomes, seed)


class InProcessExecutor:
    """Shards one after another in this process."""

    def map(self, problem, shards, seed):
        return [evaluate_shard(problem, g, seed) for g in shards]

    def close(self):
        pass


class ProcessExecutor:
    """A local pool of worker processes (spawned: Brian2's device state is per process)."""

    def __init__(self, workers):
        self.pool = process_pool(workers)

    def map(self, problem, shards, seed):
        futures = [self.pool.submit(evaluate_shard, problem, g, seed) for g in shards]
        return [f.result() for f in futures]

    def close(self):
        self.pool.shutdown()


#: How long to wait for a Dask scheduler before giving up with a clear error.
CONNECT_TIMEOUT = "10s"


class DaskExecutor:
    """A Dask cluster given by its scheduler address (``distributed.Client(...).get_executor()``)."""

    def __init__(self, scheduler):
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError("executor 'dask' needs the distributed package: pip install pdlf-brian[distributed]") from None
        try:
            self.client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"config field 'scheduler': cannot reach the Dask scheduler {scheduler!r} within "
                              f"{CONNECT_TIMEOUT} ({type(exc).__name__}: {exc})") from None
        self.pool = self.client.get_executor(pure=False)

    def map(self, problem, shards, seed):
        futures = [self.pool.submit(evaluate_shard, problem, g, seed) for g in shards]
        return [f.result() for f in futures]

    def close(self):
        self.client.close()


def make_executor(config):
    if config.executor == "inprocess":
        return InProcessExecutor()
    if config.executor == "process":
        return ProcessExecutor(config.workers)
    return DaskExecutor(config.scheduler)
