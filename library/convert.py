"""Converts image folders and NumPy arrays to sharded TFRecords: convert_dataset.py's machinery.

Worker processes (started with 'spawn', so they never inherit TensorFlow)
decode, rotate, resize and encode images with Pillow; this process checks
that TensorFlow's own decoders read the bytes stored unchanged
(library/decode_check.py), then writes the shards.
Shards are written in a hidden temporary folder and renamed into place only
when all are complete; `<name>.json` is written last, atomically.
"""
import collections
import concurrent.futures
import contextlib
import functools
import os
import random
import signal
import sys
import threading
import time

import tensorflow as tf
import tqdm

from library import dataset_info, encode_pool, run_lock, stop_signals
from library.config import ConfigError
from library.convert_sources import find_inputs
from library.decode_check import checked_results
from library.image_files import Unreadable, encode_chunk, encode_options
from library.tfrecord_schema import image_example

TARGET_SHARD_BYTES = 150 * 2 ** 20
CHUNK_SIZE = 8
CHUNKS_IN_FLIGHT_PER_WORKER = 4
PROGRESS_STEPS = 10
CHECKS_IN_FLIGHT = 2


class ShardWriter:
    """Writes records into temporary shards; `commit` renames them into place.

    With `num_shards` the records go round-robin into that many shards;
    without it a new shard starts whenever one reaches TARGET_SHARD_BYTES.
    """

    def __init__(self, tfrecord_dir, name, num_shards=None):
        self.tfrecord_dir = tfrecord_dir
        self.name = name
        self.num_shards = num_shards
        self.partial_dir = os.path.join(tfrecord_dir, '.%s.partial' % name)
        try:
            tf.io.gfile.makedirs(tfrecord_dir)
            if tf.io.gfile.exists(self.partial_dir):
                tf.io.gfile.rmtree(self.partial_dir)
            tf.io.gfile.makedirs(self.partial_dir)
        except tf.errors.OpError as error:
            raise ConfigError('--tfrecord_dir %s: cannot write there (%s)' % (
                tfrecord_dir, error.message)) from None
        self.paths = []
        self.writers = []
        self.records = []
        self.current_bytes = 0
        self.count = 0
        for _ in range(num_shards or 1):
            self.open_shard()

    def open_shard(self):
        path = os.path.join(self.partial_dir, 'part-%05d' % len(self.paths))
        try:
            self.writers.append(tf.io.TFRecordWriter(path))
        except tf.errors.OpError as error:
            raise ConfigError('--tfrecord_dir %s: cannot write there (%s)' % (
                self.tfrecord_dir, error.message)) from None
        self.paths.append(path)
        self.records.append(0)
        self.current_bytes = 0

    def write(self, serialized):
        if self.num_shards:
            index = self.count % self.num_shards
        else:
            if self.current_bytes >= TARGET_SHARD_BYTES:
                self.writers[-1].close()
                self.open_shard()
            index = len(self.writers) - 1
        self.writers[index].write(serialized)
        self.records[index] += 1
        self.current_bytes += len(serialized)
        self.count += 1

    def commit(self):
        """Renames the complete shards into place, deletes stale ones; returns [{'file', 'bytes', 'records'}]
        of each shard."""
        for writer in self.writers:
            writer.close()
        total = len(self.paths)
        names = [dataset_info.shard_file_name(self.name, index, total) for index in range(total)]
        # No <name>.json while shards change: a kill in between leaves no description of a set
        # that is not complete, so training refuses it instead of reading part of it.
        stale_info = dataset_info.info_path(self.tfrecord_dir, self.name)
        if tf.io.gfile.exists(stale_info):
            tf.io.gfile.remove(stale_info)
        for old in tf.io.gfile.glob(dataset_info.shard_glob(self.tfrecord_dir, self.name)):
            if os.path.basename(old) not in names:
                tf.io.gfile.remove(old)
        sizes = [tf.io.gfile.stat(path).length for path in self.paths]
        for path, name in zip(self.paths, names):
            tf.io.gfile.rename(path, os.path.join(self.tfrecord_dir, name), overwrite=True)
        tf.io.gfile.rmtree(self.partial_dir)
        return [{'file': name, 'bytes': size, 'records': records}
                for name, size, records in zip(names, sizes, self.records)]

    def abort(self):
        """Closes and deletes the temporary shards; earlier output stays as it was."""
        for writer in self.writers:
            writer.close()
        if tf.io.gfile.exists(self.partial_dir):
            tf.io.gfile.rmtree(self.partial_dir)


class Progress:
    """A tqdm bar on a terminal; otherwise a plain line at every tenth of the work."""

    def __init__(self, total, enabled=True, stream=None):
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.start = time.time()
        self.done = 0
        self.next_step = 1
        interactive = enabled and hasattr(self.stream, 'isatty') and self.stream.isatty()
        self.bar = tqdm.tqdm(total=total, unit='img', file=self.stream, smoothing=0.1,
                             dynamic_ncols=True) if interactive else None

    def update(self, count=1):
        self.done += count
        if self.bar:
            self.bar.update(count)
            return
        if not self.enabled or self.done * PROGRESS_STEPS < self.next_step * self.total:
            return
        while self.done * PROGRESS_STEPS >= self.next_step * self.total:
            self.next_step += 1
        elapsed = max(time.time() - self.start, 1e-9)
        rate = self.done / elapsed
        self.stream.write('converted %d/%d images (%d%%), %.1f images/s, ETA %.0f s\n' % (
            self.done, self.total, 100 * self.done // self.total, rate,
            (self.total - self.done) / rate if rate else 0))
        self.stream.flush()

    def close(self):
        if self.bar:
            self.bar.close()


def worker_payload(item):
    """Returns what a worker needs for `item`: the array, a local path, or the file's bytes."""
    if item.array is not None:
        return item.array
    if '://' not in item.path:
        return item.path
    try:
        with tf.io.gfile.GFile(item.path, 'rb') as stream:
            return stream.read()
    except tf.errors.OpError as error:
        return Unreadable('cannot read file: %s' % error.message)


def chunks_of(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def in_order(submit, tagged_arguments, ahead):
    """Yields (tag, submit(argument).result()) in input order, `ahead` calls submitted in advance."""
    pending = collections.deque()
    for tag, argument in tagged_arguments:
        pending.append((tag, submit(argument)))
        if len(pending) > ahead:
            tag, future = pending.popleft()
            yield tag, future.result()
    while pending:
        tag, future = pending.popleft()
        yield tag, future.result()


def encoded_chunks(items, options, num_workers, workers=None):
    """Yields (items, Encoded results) chunk by chunk, in input order, encoded in `num_workers`.

    Uses `workers` (library/encode_pool.Workers) when given, else starts and stops them.
    """
    tagged_payloads = ((chunk, [worker_payload(item) for item in chunk])
                       for chunk in chunks_of(items, CHUNK_SIZE))
    if num_workers <= 1:
        for chunk, payloads in tagged_payloads:
            yield chunk, encode_chunk(options, payloads)
        return
    with contextlib.nullcontext(workers) if workers else encode_pool.started(num_workers) as pool:
        yield from in_order(functools.partial(pool.encode, options), tagged_payloads,
                            CHUNKS_IN_FLIGHT_PER_WORKER * num_workers - 1)


def checked_chunks(items, options, num_workers, workers=None):
    """Yields (items, checked Encoded results) chunk by chunk, in input order.

    Workers encode; a thread here runs the TensorFlow check of one chunk's
    passthrough bytes while this thread writes the one before (the decoders
    release the GIL).
    """
    with concurrent.futures.ThreadPoolExecutor(1) as checker, \
            contextlib.closing(encoded_chunks(items, options, num_workers, workers)) as chunks:
        yield from in_order(functools.partial(checker.submit, checked_results, options=options),
                            chunks, CHECKS_IN_FLIGHT)


@contextlib.contextmanager
def deferred_interrupts():
    """Turns Ctrl-C and SIGTERM into a flag that the conversion loop checks between chunks.

    A KeyboardInterrupt raised straight from the signal could land inside a
    destructor (TensorFlow frees many tensors) where Python only prints and
    ignores it; a flag is never lost. Yields a threading.Event whose `signum`
    is the signal received.
    """
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def flag(signum, frame):
        interrupted.signum = signum
        interrupted.set()
    previous = {signum: signal.signal(signum, flag) for signum in stop_signals.SIGNALS}
    try:
        yield interrupted
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Tally:
    """Counts what a conversion wrote and skipped, for the summary and `<name>.json`."""

    def __init__(self, classes, skipped):
        self.classes = classes
        self.skipped = list(skipped)
        self.class_counts = [0] * len(classes)
        self.formats = collections.Counter()
        self.passthrough = 0

    def skip(self, item, reason):
        self.skipped.append({'file': item.source, 'reason': reason})
        return self.skipped[-1]

    def written(self, item, result):
        self.formats[result.image_format] += 1
        self.passthrough += result.passthrough
        if item.label >= 0:
            self.class_counts[item.label] += 1


def convert_folder(dataset_dir, tfrecord_dir, name, max_edge=None, resize=None, num_shards=None,
                   num_workers=None, labels_file=None, unlabelled=False, image_format='jpeg',
                   channels=None, strict=False, seed=0, quality=95, resample='bilinear',
                   show_progress=True, workers=None):
    """Converts an image folder or a .npz/.npy file to `tfrecord_dir/name-*.tfrecord` + `name.json`.

    Returns the dataset info written to `name.json` plus 'seconds',
    'images_per_second' and 'info_path'. `workers`: num_workers already
    started with library/encode_pool.py, else started here. Raises
    ConfigError for user errors, for no image written, and (with `strict`)
    for any skipped file.
    """
    start = time.time()
    if not name or '/' in name or name.startswith('.'):
        raise ConfigError('--tfrecord_filename %r: expected a plain file name prefix such as train'
                          % name)
    if num_shards is not None and num_shards < 1:
        raise ConfigError('--num_shards %d: expected at least 1' % num_shards)
    options = encode_options(image_format, quality, max_edge, resize, channels, resample)
    num_workers = encode_pool.default_num_workers() if num_workers is None else num_workers
    if num_workers < 1:
        raise ConfigError('--num_workers %d: expected at least 1' % num_workers)
    inputs = find_inputs(dataset_dir, labels_file, unlabelled)
    if not inputs.items:
        raise ConfigError('--dataset_dir %s: no input files found' % dataset_dir)
    if strict and inputs.skipped:
        raise strict_error(inputs.skipped[0])
    items = list(inputs.items)
    random.Random(seed).shuffle(items)
    tally = Tally(inputs.classes, inputs.skipped)
    lock = conversion_lock(tfrecord_dir, name)
    try:
        writer = ShardWriter(tfrecord_dir, name, num_shards)
    except BaseException:
        lock.release()
        raise
    progress = Progress(len(items), show_progress)
    try:
        with deferred_interrupts() as interrupted, \
                contextlib.closing(checked_chunks(items, options, num_workers, workers)) as chunks:
            for chunk, results in chunks:
                if interrupted.is_set():
                    raise stop_signals.Stopped(interrupted.signum)
                for item, result in zip(chunk, results):
                    if result.skip_reason:
                        skip = tally.skip(item, result.skip_reason)
                        if strict:
                            raise strict_error(skip)
                        continue
                    text = inputs.classes[item.label] if item.label >= 0 else ''
                    writer.write(image_example(
                        result.data, result.image_format, result.height, result.width,
                        result.channels, item.label, text, item.source).SerializeToString())
                    tally.written(item, result)
                progress.update(len(chunk))
            if interrupted.is_set():
                raise stop_signals.Stopped(interrupted.signum)
        progress.close()
        if not writer.count:
            raise ConfigError('--dataset_dir %s: no image could be converted; %d files skipped, '
                              'first: %s: %s' % (dataset_dir, len(tally.skipped),
                                                 tally.skipped[0]['file'],
                                                 tally.skipped[0]['reason']))
        shards = writer.commit()
    except BaseException:
        progress.close()
        writer.abort()
        lock.release()
        raise
    seconds = time.time() - start
    info = {
        'name': name,
        'count': writer.count,
        'classes': inputs.classes,
        'class_counts': tally.class_counts,
        'shards': [shard['file'] for shard in shards],
        'shard_sizes': shards,
        'skipped': tally.skipped,
        'formats': dict(tally.formats),
        'passthrough': tally.passthrough,
        'source': dataset_dir,
        'options': {'max_edge': max_edge,
                    'resize': list(options.resize) if options.resize else None,
                    'format': image_format, 'channels': channels, 'quality': quality,
                    'resample': resample,
                    'seed': seed, 'unlabelled': unlabelled, 'labels_file': labels_file},
    }
    path = dataset_info.info_path(tfrecord_dir, name)
    try:
        dataset_info.write(path, info)
    finally:
        lock.release()
    return dict(info, seconds=seconds, images_per_second=len(items) / max(seconds, 1e-9),
                info_path=path)


def conversion_lock(tfrecord_dir, name):
    """Holds `<tfrecord_dir>/.NAME.lock`, so a second conversion to the same output is refused."""
    lock = run_lock.RunLock(tfrecord_dir, '.%s.lock' % name,
                            os.path.join(tfrecord_dir, name + '-*.tfrecord'))
    try:
        return lock.acquire()
    except tf.errors.OpError as error:
        raise ConfigError('--tfrecord_dir %s: cannot write there (%s)' % (
            tfrecord_dir, error.message)) from None


def strict_error(skip):
    return ConfigError('--strict: %s: %s' % (skip['file'], skip['reason']))


def summary_line(summary):
    """Returns the one-line summary printed when a conversion ends."""
    classes = len(summary['classes'])
    return ('wrote %d images (%s) to %d shard%s in %s; skipped %d%s; %.1f s, %.1f images/s' % (
        summary['count'], '%d classes' % classes if classes else 'unlabelled',
        len(summary['shards']), '' if len(summary['shards']) == 1 else 's',
        os.path.dirname(summary['info_path']) or '.', len(summary['skipped']),
        ' (reasons in %s)' % summary['info_path'] if summary['skipped'] else '',
        summary['seconds'], summary['images_per_second']))

