"""Worker pools of the studies: their workers end when the process that made the pool is killed."""
import os
import signal
import subprocess
import sys
import time

PARENT = """
import os
import time

from pdlf_brian.evolution.executors import process_pool

def worker_pid():
    return os.getpid()

if __name__ == "__main__":
    pool = process_pool(1, interval=0.2)
    print(pool.submit(worker_pid).result(), flush=True)   # the worker's pid, once it runs
    pool.submit(time.sleep, 60)
    time.sleep(60)
"""


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:                 # a zombie has ended
        return fh.read().split()[2] != "Z"


def test_pool_workers_exit_when_the_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    assert alive(worker)
    parent.send_signal(signal.SIGKILL)                     # no cleanup: the worker must notice alone
    parent.wait()
    deadline = time.time() + 20
    while alive(worker) and time.time() < deadline:
        time.sleep(0.1)
    assert not alive(worker), "the pool's worker outlived its killed parent"
