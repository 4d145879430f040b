"""The worker processes that encode images for convert_dataset.py.

Free of TensorFlow, so convert_dataset.py starts the workers before it
imports TensorFlow, and gives them the first image files it finds to encode
meanwhile: that import takes seconds of one core, and the other cores would
otherwise wait for it.
"""
import concurrent.futures
import contextlib
import multiprocessing
import os
import threading
import time

from library.image_files import encode_chunk, ignore_interrupts

PARENT_CHECK_SECONDS = 1.0
EARLY_CHUNK_SIZE = 8
EARLY_IMAGES_PER_WORKER = 256


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


def local_image_files(top, limit):
    """Returns up to `limit` paths of non-hidden files below a local folder (none for a URL)."""
    if '://' in top or not os.path.isdir(top):
        return []
    paths = []
    for root, folders, names in os.walk(top):
        folders[:] = sorted(name for name in folders if not name.startswith('.'))
        paths += [os.path.join(root, name) for name in sorted(names) if not name.startswith('.')]
        if len(paths) >= limit:
            return paths[:limit]
    return paths


class EarlyChunk:
    """The result of one chunk of work items, parts of which were encoded early."""

    def __init__(self, early, future, size):
        self.early = early
        self.future = future
        self.size = size

    def result(self):
        rest = iter(self.future.result() if self.future else [])
        return [self.early[index][0].result()[self.early[index][1]] if index in self.early
                else next(rest) for index in range(self.size)]


class Workers:
    """A process pool that encodes chunks of work items (library/image_files.encode_chunk).

    A process pool executor rather than multiprocessing.Pool: a worker that
    dies fails the conversion (BrokenProcessPool) instead of leaving it
    waiting, and closing early cancels what has not started and waits only
    for the chunks being encoded (Pool.terminate can hang, cpython #96995).
    """

    def __init__(self, num_workers):
        self.pool = concurrent.futures.ProcessPoolExecutor(
            num_workers, mp_context=multiprocessing.get_context('spawn'),
            initializer=start_worker, initargs=(os.getpid(),))
        self.num_workers = num_workers
        self.early_options = None
        self.early = {}

    def start_early(self, dataset_dir, options):
        """Starts encoding the first image files below a local `dataset_dir` with `options`,
        before the conversion has listed its inputs; `encode` uses them when they are listed."""
        self.early_options = options
        paths = local_image_files(dataset_dir, EARLY_IMAGES_PER_WORKER * self.num_workers)
        for start in range(0, len(paths), EARLY_CHUNK_SIZE):
            chunk = paths[start:start + EARLY_CHUNK_SIZE]
            future = self.pool.submit(encode_chunk, options, chunk)
            self.early.update((path, (future, index)) for index, path in enumerate(chunk))

    def encode(self, options, payloads):
        """Returns a future-like whose result() is encode_chunk(options, payloads)."""
        early = {}
        if options == self.early_options:
            early = {index: self.early.pop(payload) for index, payload in enumerate(payloads)
                     if isinstance(payload, str) and payload in self.early}
        rest = [payload for index, payload in enumerate(payloads) if index not in early]
        future = self.pool.submit(encode_chunk, options, rest) if rest else None
        return EarlyChunk(early, future, len(payloads)) if early else future


@contextlib.contextmanager
def started(num_workers):
    """Yields Workers with `num_workers` running processes, or None for fewer than 2."""
    if num_workers is None or num_workers < 2:
        yield None
        return
    workers = Workers(num_workers)
    try:
        for _ in range(num_workers):
            workers.pool.submit(abs, 0)  # each submit starts one worker (Python 3.9+), so all start now
        yield workers
    finally:
        workers.pool.shutdown(wait=True, cancel_futures=True)
