"""Input pipeline throughput: project/input_fn.py against the necessary-work limit and the classic pipeline.

    python -m benchmarks.input_bench            # full run (a few minutes on 2 cores)
    python -m benchmarks.input_bench --quick    # smaller, one repetition
    python -m benchmarks.input_bench --photo_side 1024   # larger photos: reduced-scale DCT decoding pays

Data: photo-like 512x512 JPEGs (benchmarks.common: layered noise and texture,
so they decode at realistic speed), converted to TFRecord shards by
convert_dataset.py. Output 224x224, batch 64. Every figure is the median over
the repetitions, measured round-robin in one run. The figures replace the
'## Input pipeline' section of benchmarks/README.md (with --photo_side, a
section of their own); `python -m benchmarks` runs it too, through `run(context)`.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import tensorflow as tf

from benchmarks import common
from library import config as config_lib
from library import tfrecord_schema as schema
from library.input_benchmark import time_batches
from project import input_fn as project_input_fn

README = os.path.join(common.REPO_ROOT, 'benchmarks', 'README.md')
SECTION = '## Input pipeline'
OUTPUT_SIDE = common.CROP_SIZE
BATCH = common.BATCH_SIZE
CLASSIC_RESIZE = 256
AUTOTUNE = tf.data.AUTOTUNE
# (key, label, what it does) of every figure, in table order.
PIPELINES = [
    ('input.train', 'scaffold input_fn TRAIN',
     'decode_and_crop_jpeg of the random window at a reduced DCT scale when it is large, resize, flip, '
     'shuffle, from the TFRecords'),
    ('input.train_no_flip', 'scaffold input_fn TRAIN, random_flip: false',
     'the same without the random horizontal flip, which the limit does not do either'),
    ('input.limit_flip', 'necessary-work limit with the flip',
     'what a user writes for the same work: records interleaved from the same shards, the JPEG taken out, '
     'sample_distorted_bounding_box, decode_and_crop_jpeg, resize, random flip, batch'),
    ('input.limit', 'necessary-work limit',
     'the same without the flip'),
    ('input.limit_in_memory', 'necessary-work limit, JPEGs in memory',
     'the same decode and resize of JPEGs already in memory (not even the records read)'),
    ('input.classic_parallel', 'classic pipeline, parallel map',
     'full decode_jpeg, resize to 256, random_crop, flip, from the TFRecords'),
    ('input.classic_serial', 'classic pipeline, serial map', 'the same with a serial map'),
    ('input.eval', 'scaffold input_fn EVAL', 'central crop, one deterministic pass'),
    ('input.cache_epoch1', 'TRAIN with cache: memory, epoch 1',
     'first epoch, decoding every image into the cache, timed from its first batch request'),
    ('input.cache_epoch2', 'TRAIN with cache: memory, epoch 2', 'second epoch, from the cache'),
]
# Pipelines whose CPU time per image is measured too: a second view of the same runs (on a shared VM it
# moves from run to run about as much as images/s does).
CPU_TIMED = ('input.train', 'input.train_no_flip', 'input.limit', 'input.classic_parallel')


def bench_params(pattern, **overrides):
    """Returns the default config with the benchmark's data, sizes and `overrides`."""
    argv = ['--config_file', os.path.join(common.REPO_ROOT, 'project.yaml'), '--train_files', pattern,
            '--eval_files', pattern, '--image_size', str(OUTPUT_SIDE), '--train_batch_size', str(BATCH),
            '--eval_batch_size', str(BATCH), '--prefetch_to_device', 'none', '--model_dir', '']
    _, config = config_lib.parse(argv)
    params = dict(config)
    params.update(overrides)
    return params


def limit_window_decoder(params, flip=False):
    """Returns the necessary work for one JPEG: decode_and_crop_jpeg of an Inception-style window, resize
    (and a random horizontal flip)."""
    def decode_window(encoded):
        shape = tf.io.extract_jpeg_shape(encoded)
        begin, size, _ = tf.image.sample_distorted_bounding_box(
            shape, tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), min_object_covered=0.0,
            aspect_ratio_range=params['crop_aspect_range'], area_range=params['crop_area_range'],
            max_attempts=params['crop_max_attempts'], use_image_if_no_bounding_boxes=True)
        window = tf.stack([begin[0], begin[1], size[0], size[1]])
        image = tf.image.resize(tf.io.decode_and_crop_jpeg(encoded, window, channels=3), [OUTPUT_SIDE, OUTPUT_SIDE])
        return tf.image.random_flip_left_right(image) if flip else image
    return decode_window


def limit_dataset(pattern, params, flip=False):
    """The necessary work only, on the same shards: read the records, take out the JPEG, decode its window, resize
    (and flip)."""
    decode_window = limit_window_decoder(params, flip)

    def record_window(record):
        return decode_window(tf.io.parse_single_example(
            record, {schema.ENCODED: tf.io.FixedLenFeature([], tf.string)})[schema.ENCODED])
    records = tf.data.Dataset.from_tensor_slices(tf.io.gfile.glob(pattern)).repeat().interleave(
        tf.data.TFRecordDataset, num_parallel_calls=AUTOTUNE, deterministic=False)
    return records.map(record_window, num_parallel_calls=AUTOTUNE).batch(
        BATCH, drop_remainder=True).prefetch(AUTOTUNE)


def in_memory_limit_dataset(images, params):
    """The same work on JPEGs already in memory: not even the records are read."""
    return (tf.data.Dataset.from_tensor_slices(images).repeat()
            .map(limit_window_decoder(params), num_parallel_calls=AUTOTUNE)
            .batch(BATCH, drop_remainder=True).prefetch(AUTOTUNE))


def classic_dataset(pattern, parallel):
    """The classic pipeline: full decode_jpeg, resize, random_crop, flip (parallel or serial map)."""
    def decode_full(record):
        features = tf.io.parse_single_example(record, {
            schema.ENCODED: tf.io.FixedLenFeature([], tf.string),
            schema.LABEL: tf.io.FixedLenFeature([], tf.int64)})
        image = tf.io.decode_jpeg(features[schema.ENCODED], channels=3)
        image = tf.image.resize(image, [CLASSIC_RESIZE, CLASSIC_RESIZE])
        image = tf.image.random_crop(image, [OUTPUT_SIDE, OUTPUT_SIDE, 3])
        image = tf.image.random_flip_left_right(image)
        return image, tf.cast(features[schema.LABEL], tf.int32)
    files = tf.io.gfile.glob(pattern)
    return (tf.data.TFRecordDataset(files).shuffle(2048).repeat()
            .map(decode_full, num_parallel_calls=AUTOTUNE if parallel else None)
            .batch(BATCH, drop_remainder=True).prefetch(AUTOTUNE))


def encoded_images(pattern):
    """Returns the encoded images stored in the TFRecords of `pattern` (JPEGs, as convert_dataset.py writes them)."""
    records = tf.data.TFRecordDataset(tf.io.gfile.glob(pattern)).map(
        lambda record: tf.io.parse_single_example(
            record, {schema.ENCODED: tf.io.FixedLenFeature([], tf.string)})[schema.ENCODED])
    return [encoded.numpy() for encoded in records]


def images_per_second(dataset, warm_up, batches, cpu_runs=None):
    """Images/s of the timed batches; appends their CPU microseconds per image to `cpu_runs` if given."""
    seconds, read, cpu_seconds = time_batches(dataset, warm_up, batches)
    if cpu_runs is not None:
        cpu_runs.append(1e6 * cpu_seconds / (read * BATCH))
    return read * BATCH / seconds


def eval_images_per_second(params):
    """Images/s of a full evaluation pass (after one warm-up pass over the same dataset)."""
    dataset = project_input_fn.input_fn(tf.estimator.ModeKeys.EVAL, params)
    for timed in (False, True):
        start = time.perf_counter()
        count = sum(int(labels.shape[0]) for _, labels in dataset)
        if timed:
            return count / (time.perf_counter() - start)


def cache_epochs_images_per_second(params, count):
    """Images/s of the first and second epoch of training with cache: memory.

    The first epoch is timed from its first batch request: the shuffle buffer fills
    before the first batch comes out, so on a data set no larger than shuffle_buffer
    all decoding happens before that batch and timing after it would leave it out.
    """
    dataset = project_input_fn.input_fn(tf.estimator.ModeKeys.TRAIN, dict(params, cache='memory'), epochs=2)
    per_epoch = count // BATCH
    iterator = iter(dataset)
    rates = []
    for _ in range(2):
        start = time.perf_counter()
        for _ in range(per_epoch):
            next(iterator)
        rates.append(per_epoch * BATCH / (time.perf_counter() - start))
    return rates


def measure(context):
    """Returns the Measurement of every pipeline, repetitions taken round-robin."""
    batches = context.batches(6, 40)
    warm_up = 3
    pattern = context.train_files
    images = encoded_images(pattern)
    params = bench_params(pattern)
    runs = {key: [] for key, _, _ in PIPELINES}
    cpu = {key: [] for key in CPU_TIMED}

    def timed(key, dataset, warm=warm_up, count=batches):
        runs[key].append(images_per_second(dataset, warm, count, cpu.get(key)))

    for _ in range(context.repeats):
        timed('input.train', project_input_fn.input_fn(tf.estimator.ModeKeys.TRAIN, params))
        timed('input.train_no_flip',
              project_input_fn.input_fn(tf.estimator.ModeKeys.TRAIN, dict(params, random_flip=False)))
        timed('input.limit_flip', limit_dataset(pattern, params, flip=True))
        timed('input.limit', limit_dataset(pattern, params))
        timed('input.limit_in_memory', in_memory_limit_dataset(images, params))
        timed('input.classic_parallel', classic_dataset(pattern, True))
        timed('input.classic_serial', classic_dataset(pattern, False), warm=1, count=max(2, batches // 4))
        runs['input.eval'].append(eval_images_per_second(params))
        first, second = cache_epochs_images_per_second(params, len(images))
        runs['input.cache_epoch1'].append(first)
        runs['input.cache_epoch2'].append(second)
    found = {key: common.Measurement(key, label, 'images/s', runs[key]) for key, label, _ in PIPELINES}
    return found, {key: statistics.median(values) for key, values in cpu.items()}


def cpu_note(cpu):
    """A note with the median CPU time per image of the CPU_TIMED pipelines, and its ratios."""
    train, no_flip, limit, classic = (cpu[key] for key in CPU_TIMED)
    return ('CPU time per image while timed (this process): scaffold TRAIN %.0f us '
            '(%.0f us without the flip), necessary-work limit %.0f us, classic parallel %.0f us; as images '
            'per CPU second the scaffold is %.2fx the limit (%.2fx without the flip) and %.2fx the classic '
            'pipeline.' % (train, no_flip, limit, classic, limit / train, limit / no_flip, classic / train))


def described(pipelines):
    """Returns one bullet line per pipeline saying what it does."""
    return ['- **%s**: %s.' % (label, what) for _, label, what in pipelines]


def tables(context):
    """Returns the input pipeline tables: training pipelines against the limit, then eval and cache."""
    found, cpu = measure(context)
    train, no_flip, limit_flip, limit, in_memory, classic = (found[key].median for key in (
        'input.train', 'input.train_no_flip', 'input.limit_flip', 'input.limit', 'input.limit_in_memory',
        'input.classic_parallel'))
    first_eval = [key for key, _, _ in PIPELINES].index('input.eval')
    training, others = PIPELINES[:first_eval], PIPELINES[first_eval:]
    cache1, cache2 = found['input.cache_epoch1'].median, found['input.cache_epoch2'].median
    setup = ('%d JPEGs from %s in TFRecord shards; output %dx%d, batch %d; median of %d '
             'repetition(s) taken round-robin, %d timed batches each after a warm-up.' % (
                 context.image_count, os.path.basename(context.images_dir), OUTPUT_SIDE, OUTPUT_SIDE,
                 BATCH, context.repeats, context.batches(6, 40)))
    return [
        common.rate_table('Input pipelines: training crops against the necessary-work limit',
                          [found[key] for key, _, _ in training], baseline_key='input.limit_flip',
                          name_column='pipeline', notes=[setup] + described(training) + [
                              'Training pipeline: %.2fx the necessary-work limit with the flip (target >= 0.95x; '
                              '%.2fx the limit without the flip when both skip it; %.2fx the limit on JPEGs '
                              'already in memory), %.2fx the classic parallel pipeline (target >= 1.3x).' % (
                                  train / limit_flip, no_flip / limit, train / in_memory, train / classic),
                              cpu_note(cpu)]),
        common.rate_table('Input pipelines: evaluation and `cache: memory`',
                          [found[key] for key, _, _ in others],
                          baseline_key='input.cache_epoch1', name_column='pipeline',
                          notes=described(others) + [
                              'Second epoch with `cache: memory`: %.2fx the first.' % (cache2 / cache1)]),
    ]


def run(context):
    """The `python -m benchmarks` entry point."""
    return tables(context)


def write_section(text, path=README, section=SECTION):
    """Replaces (or appends) the `section` heading's section of `path`, keeping the other sections."""
    existing = open(path, encoding='utf-8').read() if os.path.exists(path) else '# Benchmarks\n\n'
    start = existing.find(section + '\n')
    if start < 0:
        updated = existing.rstrip('\n') + '\n\n' + text
    else:
        end = existing.find('\n## ', start + len(section))
        updated = existing[:start] + text + ('' if end < 0 else existing[end + 1:])
    temporary = path + '.tmp-%d' % os.getpid()
    with open(temporary, 'w', encoding='utf-8') as stream:
        stream.write(updated)
    os.replace(temporary, path)


def main(argv=None):
    from benchmarks.__main__ import converted_records
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='fewer images and one repetition')
    parser.add_argument('--no_write', action='store_true', help='print the figures without updating README.md')
    parser.add_argument('--photo_side', type=int, default=common.IMAGE_SIZE,
                        help='side of the generated photo-like JPEGs (default %(default)s)')
    parser.add_argument('--images_dir', help='a folder of your own JPEG photos (class sub-folders) instead of '
                                             'the generated ones')
    args = parser.parse_args(argv)
    machine = dict(common.machine_info())  # before the run, so the load average is the one it started under
    images_dir = args.images_dir or common.photo_folder(128 if args.quick else 384, size=args.photo_side)
    own_size = args.photo_side != common.IMAGE_SIZE
    section = '%s, %dx%d photos' % (SECTION, args.photo_side, args.photo_side) if own_size else SECTION
    if args.images_dir:
        section = '%s, photos of %s' % (SECTION, os.path.basename(os.path.normpath(args.images_dir)))
    os.makedirs(common.DATA_DIR, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='input-', dir=common.DATA_DIR) as work_dir:
        context = common.Context(quick=args.quick, repeats=1 if args.quick else 5, images_dir=images_dir,
                                 image_count=len(common.list_images(images_dir)),
                                 train_files=converted_records(images_dir, images_dir + '-records', reuse=True),
                                 work_dir=work_dir)
        found = tables(context)
    command = 'python -m benchmarks.input_bench' + (' --quick' if args.quick else '') + (
        ' --photo_side %d' % args.photo_side if own_size else '') + (
        ' --images_dir %s' % args.images_dir if args.images_dir else '')
    text = '\n'.join([section, '', 'Command: `%s`  ' % command,
                      'Machine: %s, %s, TensorFlow %s, load average at start %s (%s).' % (
                          machine['machine'], machine['cores'], tf.__version__,
                          machine['load average at start'], machine['date']), ''] +
                     [table.markdown() for table in found])
    print(text)
    if not args.no_write:
        write_section(text, section=section)
    return 0


if __name__ == '__main__':
    sys.exit(main())
