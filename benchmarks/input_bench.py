"""Input pipeline throughput: project/input_fn.py against the necessary-work limit and the classic pipeline.

    python -m benchmarks.input_bench            # full run (a few minutes on 2 cores)
    python -m benchmarks.input_bench --quick    # smaller, one repetition

Data: photo-like 512x512 JPEGs (layered noise and texture, so they decode at
realistic speed), written as TFRecord shards. Output 224x224, batch 64. Every
figure is the median over the repetitions, measured round-robin in one run.
The figures replace the '## Input pipeline' section of benchmarks/README.md.
"""
import argparse
import io
import os
import platform
import resource
import statistics
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf
from PIL import Image

from library import config as config_lib
from library import tfrecord_schema as schema
from library.input_benchmark import time_batches
from project import input_fn as project_input_fn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, 'benchmarks', 'README.md')
SECTION = '## Input pipeline'
IMAGE_SIDE = 512
OUTPUT_SIDE = 224
BATCH = 64
CLASSIC_RESIZE = 256
AUTOTUNE = tf.data.AUTOTUNE


def photo_like_jpeg(rng, side=IMAGE_SIDE):
    """Returns JPEG bytes of a noisy, textured image (octaves of smooth noise plus grain)."""
    canvas = np.zeros((side, side, 3), np.float32)
    for cells, weight in ((4, 60), (16, 40), (64, 30), (256, 20)):
        coarse = (rng.random((cells, cells, 3)) * 255).astype(np.uint8)
        layer = np.asarray(Image.fromarray(coarse).resize((side, side), Image.BICUBIC), np.float32)
        canvas += weight * (layer / 255.0 - 0.5)
    canvas += 128 + rng.normal(0, 6, canvas.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).save(buffer, 'JPEG', quality=90)
    return buffer.getvalue()


def write_shards(folder, count, shards, seed=0):
    """Writes `count` photo-like JPEG records into `shards` shards; returns (pattern, encoded images)."""
    rng = np.random.default_rng(seed)
    images = [photo_like_jpeg(rng) for _ in range(count)]
    for shard in range(shards):
        path = os.path.join(folder, 'bench-%05d-of-%05d.tfrecord' % (shard, shards))
        with tf.io.TFRecordWriter(path) as writer:
            for index in range(shard, count, shards):
                writer.write(schema.image_example(images[index], 'jpeg', IMAGE_SIDE, IMAGE_SIDE, 3,
                                                  label=index % 10).SerializeToString())
    return os.path.join(folder, 'bench-*.tfrecord'), images


def bench_params(pattern, **overrides):
    """Returns the default config with the benchmark's data, sizes and `overrides`."""
    argv = ['--config_file', os.path.join(ROOT, 'project.yaml'), '--train_files', pattern,
            '--eval_files', pattern, '--image_size', str(OUTPUT_SIDE), '--train_batch_size', str(BATCH),
            '--eval_batch_size', str(BATCH), '--prefetch_to_device', 'none', '--model_dir', '']
    _, config = config_lib.parse(argv)
    params = dict(config)
    params.update(overrides)
    return params


def limit_dataset(images, params):
    """The necessary work only: decode_and_crop_jpeg of Inception-style windows plus the resize, in memory."""
    def decode_window(encoded):
        shape = tf.io.extract_jpeg_shape(encoded)
        begin, size, _ = tf.image.sample_distorted_bounding_box(
            shape, tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), min_object_covered=0.0,
            aspect_ratio_range=params['crop_aspect_range'], area_range=params['crop_area_range'],
            max_attempts=params['crop_max_attempts'], use_image_if_no_bounding_boxes=True)
        window = tf.stack([begin[0], begin[1], size[0], size[1]])
        image = tf.io.decode_and_crop_jpeg(encoded, window, channels=3)
        return tf.image.resize(image, [OUTPUT_SIDE, OUTPUT_SIDE])
    return (tf.data.Dataset.from_tensor_slices(images).repeat()
            .map(decode_window, num_parallel_calls=AUTOTUNE).batch(BATCH, drop_remainder=True).prefetch(AUTOTUNE))


def classic_dataset(pattern, parallel):
    """The classic pipeline: full decode_jpeg, resize, random_crop, flip (parallel or serial map)."""
    def decode_full(record):
        features = tf.io.parse_single_example(record, {
            schema.ENCODED: tf.io.FixedLenFeature([], tf.string),
            schema.LABEL: tf.io.FixedLenFeature([], tf.int64)})
        image = tf.io.decode_jpeg(features[schema.ENCODED], channels=3)
        image = tf.image.resize(image, [CLASSIC_RESIZE, CLASSIC_RESIZE])
        image = tf.image.random_crop(image, [OUTPUT_SIDE, OUTPUT_SIDE, 3])
        image = tf.image.random_flip_left_right(image) / 127.5 - 1.0
        return image, tf.cast(features[schema.LABEL], tf.int32)
    files = tf.io.gfile.glob(pattern)
    return (tf.data.TFRecordDataset(files).shuffle(2048).repeat()
            .map(decode_full, num_parallel_calls=AUTOTUNE if parallel else None)
            .batch(BATCH, drop_remainder=True).prefetch(AUTOTUNE))


def cpu_seconds():
    """User + system CPU time of this process (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def images_per_second(dataset, warm_up, batches):
    """Returns (images/s, CPU milliseconds per image) over `batches` batches after `warm_up`."""
    iterator = iter(dataset)
    for _ in range(warm_up):
        next(iterator)
    cpu_start = cpu_seconds()
    seconds, read = time_batches(iterator, 0, batches)
    return read * BATCH / seconds, (cpu_seconds() - cpu_start) * 1e3 / (read * BATCH)


def eval_images_per_second(params):
    """(images/s, CPU ms per image) of a full evaluation pass, after a warm-up pass over the same dataset."""
    dataset = project_input_fn.input_fn(tf.estimator.ModeKeys.EVAL, params)
    for timed in (False, True):
        start, cpu_start = time.perf_counter(), cpu_seconds()
        count = sum(int(labels.shape[0]) for _, labels in dataset)
        if timed:
            return count / (time.perf_counter() - start), (cpu_seconds() - cpu_start) * 1e3 / count


def cache_epochs_images_per_second(params, count):
    """(images/s, CPU ms per image) of the first and the second epoch of training with cache: memory."""
    dataset = project_input_fn.input_fn(tf.estimator.ModeKeys.TRAIN, dict(params, cache='memory'), epochs=2)
    per_epoch = count // BATCH
    iterator = iter(dataset)
    figures = []
    for _ in range(2):
        start, cpu_start = time.perf_counter(), cpu_seconds()
        for _ in range(per_epoch):
            next(iterator)
        figures.append((per_epoch * BATCH / (time.perf_counter() - start),
                        (cpu_seconds() - cpu_start) * 1e3 / (per_epoch * BATCH)))
    return figures


def measure(quick):
    count = 128 if quick else 384
    repetitions = 1 if quick else 3
    batches = 6 if quick else 20
    warm_up = 3
    with tempfile.TemporaryDirectory() as folder:
        pattern, images = write_shards(folder, count, shards=8)
        params = bench_params(pattern)
        results = {name: [] for name in ('train', 'limit', 'classic', 'serial', 'eval', 'cache1', 'cache2')}
        for _ in range(repetitions):
            results['train'].append(images_per_second(
                project_input_fn.input_fn(tf.estimator.ModeKeys.TRAIN, params), warm_up, batches))
            results['limit'].append(images_per_second(limit_dataset(images, params), warm_up, batches))
            results['classic'].append(images_per_second(classic_dataset(pattern, True), warm_up, batches))
            results['serial'].append(images_per_second(classic_dataset(pattern, False), 1, max(2, batches // 4)))
            results['eval'].append(eval_images_per_second(params))
            first, second = cache_epochs_images_per_second(params, count)
            results['cache1'].append(first)
            results['cache2'].append(second)
        mean_kb = sum(len(image) for image in images) / len(images) / 1e3
    medians = {name: (statistics.median(rate for rate, _ in values), statistics.median(cpu for _, cpu in values))
               for name, values in results.items()}
    return medians, dict(count=count, repetitions=repetitions, batches=batches, mean_kb=mean_kb,
                         load=os.getloadavg()[0])


def report(figures, setup, command):
    """Returns the markdown of the '## Input pipeline' section."""
    rows = [
        ('train', '`input_fn` TRAIN (decode_and_crop_jpeg, DCT-scaled windows, flip, shuffle)'),
        ('limit', 'necessary-work limit: decode_and_crop_jpeg + resize only, parallel map, records in memory'),
        ('classic', 'classic: full decode_jpeg, resize 256, random_crop, parallel map'),
        ('serial', 'classic, serial map'),
        ('eval', '`input_fn` EVAL (central crop, one deterministic pass)'),
        ('cache1', '`input_fn` TRAIN, `cache: memory`, first epoch (decodes and fills the cache)'),
        ('cache2', '`input_fn` TRAIN, `cache: memory`, second epoch (reads the cache)'),
    ]
    limit_rate, limit_cpu = figures['limit']
    lines = [
        SECTION, '',
        'Command: `%s`  ' % command,
        'Machine: %d CPU cores (%s), TensorFlow %s, load average %.1f when measured (other jobs shared the '
        'cores, so wall-clock images/s is noisy; CPU ms per image is the steadier figure). Data: %d photo-like '
        '%dx%d JPEGs (mean %.0f kB) in 8 TFRecord shards; output %dx%d, batch %d; median of %d repetition(s), '
        '%d timed batches each after a warm-up.' % (
            os.cpu_count(), platform.machine(), tf.__version__, setup['load'], setup['count'], IMAGE_SIDE,
            IMAGE_SIDE, setup['mean_kb'], OUTPUT_SIDE, OUTPUT_SIDE, BATCH, setup['repetitions'], setup['batches']),
        '',
        '| pipeline | images/s | vs limit | CPU ms / image | limit CPU / this CPU |',
        '|---|---:|---:|---:|---:|',
    ]
    for name, label in rows:
        rate, cpu = figures[name]
        lines.append('| %s | %.0f | %.2fx | %.2f | %.2fx |' % (label, rate, rate / limit_rate, cpu, limit_cpu / cpu))
    train_rate, train_cpu = figures['train']
    classic_rate, classic_cpu = figures['classic']
    lines += [
        '',
        'Training pipeline against the necessary-work limit: %.2fx in images/s, %.2fx in CPU per image '
        '(target >= 0.9x); against the classic parallel pipeline: %.2fx in images/s, %.2fx in CPU per image '
        '(target >= 1.3x). Second epoch with `cache: memory` against the first: %.2fx in images/s.' % (
            train_rate / limit_rate, limit_cpu / train_cpu, train_rate / classic_rate, classic_cpu / train_cpu,
            figures['cache2'][0] / figures['cache1'][0]),
        '',
    ]
    return '\n'.join(lines)


def write_section(text, path=README):
    """Replaces (or appends) the '## Input pipeline' section of `path`, keeping the other sections."""
    existing = open(path, encoding='utf-8').read() if os.path.exists(path) else '# Benchmarks\n\n'
    start = existing.find(SECTION + '\n')
    if start < 0:
        updated = existing.rstrip('\n') + '\n\n' + text
    else:
        end = existing.find('\n## ', start + len(SECTION))
        updated = existing[:start] + text + ('' if end < 0 else existing[end + 1:])
    temporary = path + '.tmp-%d' % os.getpid()
    with open(temporary, 'w', encoding='utf-8') as stream:
        stream.write(updated)
    os.replace(temporary, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='fewer images and one repetition')
    parser.add_argument('--no_write', action='store_true', help='print the figures without updating README.md')
    args = parser.parse_args(argv)
    figures, setup = measure(args.quick)
    command = 'python -m benchmarks.input_bench' + (' --quick' if args.quick else '')
    text = report(figures, setup, command)
    print(text)
    if not args.no_write:
        write_section(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
