"""The worker processes that encode images for convert_dataset.py.

Free of TensorFlow, so convert_dataset.py starts the workers before it
imports TensorFlow: their start-up (a fresh interpreter, NumPy and Pillow)
then overlaps the seconds of that import instead of following it.
"""
import concurrent.futures
import contextlib
import multiprocessing
import os
import threading
import time

from library.image_files import ignore_interrupts

PARENT_CHECK_SECONDS = 1.0


def default_num_workers():
    """Returns the number of CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()


def exit_when_orphaned(parent_pid):
    """Ends this worker once its parent is gone (killed with SIGKILL, say): an idle worker would
    otherwise wait for work forever, since it holds the writing end of its own task queue."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def start_worker(parent_pid):
    """Worker start-up: Ctrl-C is left to the parent, and the worker ends with its parent."""
    ignore_interrupts()
    threading.Thread(target=exit_when_orphaned, args=(parent_pid,), daemon=True).start()


@contextlib.contextmanager
def started(num_workers):
    """Yields a pool of `num_workers` running worker processes, or None for fewer than 2.

    A process pool executor rather than multiprocessing.Pool: a worker that
    dies fails the conversion (BrokenProcessPool) instead of leaving it
    waiting, and closing early cancels what has not started and waits only
    for the chunks being encoded (Pool.terminate can hang, cpython #96995).
    """
    if num_workers is None or num_workers < 2:
        yield None
        return
    pool = concurrent.futures.ProcessPoolExecutor(
        num_workers, mp_context=multiprocessing.get_context('spawn'),
        initializer=start_worker, initargs=(os.getpid(),))
    try:
        for _ in range(num_workers):
            pool.submit(abs, 0)  # each submit starts one worker (Python 3.9+), so all start now
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
