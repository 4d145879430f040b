"""The worker processes that encode images for convert_dataset.py.

Free of TensorFlow, so convert_dataset.py starts the workers before it
imports TensorFlow: their start-up (a fresh interpreter, NumPy and Pillow)
then overlaps the seconds of that import instead of following it.
"""
import concurrent.futures
import contextlib
import multiprocessing
import os

from library.image_files import ignore_interrupts


def default_num_workers():
    """Returns the number of CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()


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
        initializer=ignore_interrupts)
    try:
        for _ in range(num_workers):
            pool.submit(abs, 0)  # each submit starts one worker (Python 3.9+), so all start now
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
