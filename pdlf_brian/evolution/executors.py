"""Where shards of a population are evaluated: in this process, a local process pool, or Dask."""
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from pdlf_brian.errors import ConfigError


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
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

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
