"""`run.py --mode benchmark_input`: how many images/s the configured training input_fn delivers (no model)."""
import time

import tensorflow as tf


def warm_up_batches(timed_batches):
    """Batches read before timing: fills the shuffle buffer and lets AUTOTUNE settle."""
    return max(2, timed_batches // 10)


def time_batches(dataset, warm_up, timed):
    """Reads `warm_up` then `timed` batches of `dataset`.

    Returns (seconds for the timed ones, batches timed, CPU seconds of this
    process, all its threads, meanwhile).
    """
    iterator = iter(dataset)
    for _ in range(warm_up):
        next(iterator)
    start, cpu_start = time.perf_counter(), time.process_time()
    read = 0
    for _ in range(timed):
        try:
            next(iterator)
        except StopIteration:
            break
        read += 1
    return time.perf_counter() - start, read, time.process_time() - cpu_start


def benchmark_input(args, config, recipe):
    """Times config['benchmark_batches'] batches of the training input_fn after a warm-up."""
    del args
    params = dict(config)
    dataset = recipe.input_fn(tf.estimator.ModeKeys.TRAIN, params)
    batches = config['benchmark_batches']
    warm_up = warm_up_batches(batches)
    print('benchmark_input: %d warm-up batches, then %d timed batches of %d from %s' % (
        warm_up, batches, config['train_batch_size'],
        'synthetic tensors' if config['synthetic'] else config['train_files']), flush=True)
    seconds, read, _ = time_batches(dataset, warm_up, batches)
    images = read * config['train_batch_size']
    print('input_fn: %.1f images/s (%d batches of %d)' % (
        images / seconds if seconds > 0 else 0.0, read, config['train_batch_size']))
    return 0
