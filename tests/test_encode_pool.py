"""The encoding workers of convert_dataset.py end with their parent, even when it is killed."""
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARENT = '''
import os, time
from library import encode_pool
with encode_pool.started(2) as pool:
    print(sorted({pool.submit(os.getpid).result() for _ in range(8)}), flush=True)
    time.sleep(120)
'''


def running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_exit_when_their_parent_is_killed():
    parent = subprocess.Popen([sys.executable, '-c', PARENT], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    workers = eval(parent.stdout.readline())
    assert workers and parent.pid not in workers
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while any(running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(running(pid) for pid in workers)
