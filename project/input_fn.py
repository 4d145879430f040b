"""The whole data path: TFRecord shards (or an image folder) -> decoded, cropped, augmented batches.

`input_fn(mode, params)` is what the Estimator calls. Training follows the
Inception/ResNet recipe: a random crop window is drawn from the JPEG header
and only that window is decoded (`decode_and_crop_jpeg`), at a reduced DCT
scale when the window is at least twice the output size. Evaluation decodes a
central window. Images come out as float32 pixel values in [0, 255], exactly
`image_size` x `image_size` x `channels`; labels are int32 (-1 unlabelled).
The model_fn maps the pixels to [-1, 1] (project/model_fn.py), on the device
that runs the model, so the input pipeline spends no pass over the images on it.

`train_files`/`eval_files` may also name an image folder (class sub-folders, read
as convert_dataset.py reads them: library.image_folders). Its files are examined
like the records of TFRecord shards (examine_images) and then feed the same
per-example functions; `balance_classes` resamples its classes to equal sizes.
"""
import hashlib
import json
import os
import random
import sys

import tensorflow as tf

from library import dataset_info
from library import checkpoints
from library import image_folders
from library import tfrecord_schema as schema
from library.config import ConfigError

AUTOTUNE = tf.data.AUTOTUNE
READ_BUFFER_BYTES = 8 * 1024 * 1024
RECORD_OVERHEAD_BYTES = 16  # length, length CRC and data CRC around every TFRecord record
DCT_RATIOS = (1, 2, 4, 8)
RESIZE_METHODS = ('bilinear', 'nearest', 'bicubic', 'area', 'lanczos3', 'lanczos5',
                  'gaussian', 'mitchellcubic')
MEMORY_CACHE_FRACTION = 0.8  # share of the available RAM a memory cache may take
SAMPLED_RECORDS = 32  # records read to estimate the size of a memory cache
JPEG_END = b'\xff\xd9'
PNG_END = b'IEND\xaeB`\x82'
EXAMPLE_START = b'\x0a'  # a serialized tf.train.Example starts with its `features` field
IMAGE_MAGICS = (b'\xff\xd8\xff', b'\x89PNG', b'GIF8', b'BM')  # JPEG, PNG, GIF, BMP
RECORD_GROUP = 64  # records read, byte-accounted and examined together
CROP, COLOUR = 0, 1  # purposes of the stateless seeds drawn for one example (draw_seed)


def input_fn(mode, params, input_context=None, epochs=None):
    """Returns a tf.data.Dataset of (features, labels) for `mode` (features only in PREDICT).

    TRAIN repeats `epochs` times (None: forever) and drops the remainder; EVAL
    and PREDICT make one deterministic pass over `eval_files`.
    """
    check_params(params)
    training = mode == tf.estimator.ModeKeys.TRAIN
    batch_size = params['train_batch_size'] if training else params['eval_batch_size']
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    if params['synthetic']:
        dataset = synthetic_dataset(params, training, batch_size, epochs)
    elif training:
        dataset = training_dataset(params, input_context, batch_size, epochs)
    else:
        dataset = evaluation_dataset(params, input_context, batch_size)
    dataset = dataset.map(_features_and_labels, num_parallel_calls=AUTOTUNE)
    if mode == tf.estimator.ModeKeys.PREDICT:
        dataset = dataset.map(lambda features, labels: features)
    dataset = dataset.prefetch(AUTOTUNE).with_options(pipeline_options())
    device = prefetch_device(params, input_context)
    if device:
        dataset = dataset.apply(tf.data.experimental.prefetch_to_device(device))
    return dataset


def preprocess_for_serving(image_bytes, params):
    """Returns the eval-preprocessed float32 [image_size, image_size, channels] image (in [0, 255]) of one
    encoded JPEG/PNG."""
    return decode_crop_resize(image_bytes, lambda shape: central_window(shape, params['eval_crop_fraction']),
                              params)


def pipeline_options():
    """Returns the tf.data options of every input pipeline: one thread per op.

    The parallel maps already keep every core busy with whole examples;
    splitting one example's resize or flip across threads only adds
    synchronisation (measured: about 1.5% more images/s on 2 cores).
    """
    options = tf.data.Options()
    options.threading.max_intra_op_parallelism = 1
    return options


# ---------------------------------------------------------------- configuration

def check_params(params):
    """Raises ConfigError for input settings that cannot work."""
    if params['channels'] not in (1, 3):
        raise ConfigError('channels: expected 1 or 3, got %r' % params['channels'])
    if params['image_size'] < 1:
        raise ConfigError('image_size: expected a positive integer, got %r' % params['image_size'])
    if params['resize_method'] not in RESIZE_METHODS:
        raise ConfigError('resize_method: expected one of %s, got %r' % (
            ', '.join(RESIZE_METHODS), params['resize_method']))
    for key in ('crop_area_range', 'crop_aspect_range'):
        value = params[key]
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or not 0 < value[0] <= value[1]):
            raise ConfigError('%s: expected [low, high] with 0 < low <= high, got %r' % (key, value))
    if not 0 < params['eval_crop_fraction'] <= 1:
        raise ConfigError('eval_crop_fraction: expected a number in (0, 1], got %r' % (
            params['eval_crop_fraction'],))
    if params['crop_max_attempts'] < 1:
        raise ConfigError('crop_max_attempts: expected a positive integer, got %r' % (
            params['crop_max_attempts'],))
    if not params['cache']:
        raise ConfigError("cache: expected none, memory or a directory, got %r" % params['cache'])


def matching_files(patterns, key):
    """Returns the sorted files matching the comma-separated `patterns` of config key `key`.

    A wildcard pattern that matches part of a NAME-xxxxx-of-NNNNN set (a cut-off
    conversion or copy) is an error; a file named exactly is read as asked.
    """
    files = []
    for pattern in [part.strip() for part in str(patterns or '').split(',') if part.strip()]:
        if tf.io.gfile.isdir(pattern):
            raise ConfigError('%s: %r is a folder; expected a TFRecord file pattern such as %s' % (
                key, pattern, os.path.join(pattern, '*.tfrecord')))
        matched = tf.io.gfile.glob(pattern)
        if not matched:
            raise ConfigError('%s: no files match %r' % (key, pattern))
        missing = dataset_info.missing_shards(matched) if any(char in pattern for char in '*?[') else []
        if missing:
            raise ConfigError('%s: the shard set is incomplete, %s is missing (%d missing in all); rerun '
                              'convert_dataset.py or copy the whole set' % (key, missing[0], len(missing)))
        files.extend(matched)
    if not files:
        raise ConfigError('%s: expected a TFRecord file pattern, got %r' % (key, patterns))
    return sorted(set(files))


def prefetch_device(params, input_context):
    """Returns the device for prefetch_to_device, or None (none, no GPU, or a strategy's own prefetching)."""
    setting = str(params['prefetch_to_device'])
    if setting == 'none' or input_context is not None:
        return None
    if setting == 'auto':
        return '/gpu:0' if tf.config.list_physical_devices('GPU') else None
    if not setting.startswith('/'):
        raise ConfigError('prefetch_to_device: expected auto, none or a device such as /gpu:0, got %r' % (
            setting,))
    return setting


def run_seed(params):
    """Returns the seed of this input_fn call: from random_seed and the checkpointed step, or random."""
    if params['random_seed'] is None:
        return random.SystemRandom().randrange(2 ** 62)
    step = checkpoints.current_step(params['model_dir']) if params.get('model_dir') else 0
    digest = hashlib.sha256(('%d/%d' % (params['random_seed'], step)).encode()).digest()
    return int.from_bytes(digest[:8], 'little') >> 2


# ---------------------------------------------------------------- datasets

def training_dataset(params, input_context, batch_size, epochs):
    """Returns the batched training dataset of (image, label) pairs."""
    seed = run_seed(params)
    if image_folders.is_image_folder(params['train_files']):
        check_folder_input(params, 'train_files')
        examples = examined_map(folder_training_elements(params, input_context, seed, epochs),
                                lambda *examined: train_example_from_record(*examined, params),
                                params['skip_corrupt'])
        return checked_batches(examples, batch_size, drop_remainder=True)
    if params['balance_classes']:
        raise ConfigError('balance_classes: true needs an image folder in train_files (class sub-folders), '
                          'got the TFRecord pattern %r' % params['train_files'])
    files = matching_files(params['train_files'], 'train_files')
    shuffle_buffer = max(1, params['shuffle_buffer'])
    cache = cache_setting(params, files, training=True, input_context=input_context)
    if cache is None:
        examples = read_records(files, input_context, training=True, seed=seed, epochs=epochs,
                                params=params).shuffle(shuffle_buffer, seed=seed % (2 ** 31),
                                                       reshuffle_each_iteration=True)
        examples = examined_map(examples, lambda *examined: train_example_from_record(*examined, params),
                                params['skip_corrupt'])
        return checked_batches(examples, batch_size, drop_remainder=True)
    cached = examined_map(
        read_records(files, input_context, training=True, seed=seed, epochs=1, params=params),
        lambda *examined: decode_for_cache(*examined, params), params['skip_corrupt'])
    cached = cached.map(payload_or_failure, num_parallel_calls=AUTOTUNE).cache(cache)
    epoch_numbers = tf.data.Dataset.range(epochs) if epochs is not None else tf.data.Dataset.counter()
    examples = epoch_numbers.flat_map(lambda epoch: tf.data.Dataset.zip((
        cached.shuffle(shuffle_buffer, seed=seed % (2 ** 31), reshuffle_each_iteration=True),
        tf.data.Dataset.from_tensors(epoch).repeat())))
    examples = examples.map(
        lambda example, epoch: train_example_from_image(*example, epoch, seed, params),
        num_parallel_calls=AUTOTUNE)
    return examples.batch(batch_size, drop_remainder=True)


def evaluation_dataset(params, input_context, batch_size):
    """Returns the batched, deterministic evaluation dataset of (image, label) pairs."""
    if image_folders.is_image_folder(params['eval_files']):
        check_folder_input(params, 'eval_files')
        elements, cache = folder_evaluation_elements(params, input_context), None
    else:
        files = matching_files(params['eval_files'], 'eval_files')
        cache = cache_setting(params, files, training=False, input_context=input_context)
        elements = read_records(files, input_context, training=False, seed=0, epochs=1, params=params)
    examples = examined_map(elements, lambda *examined: eval_example(*examined, params), params['skip_corrupt'])
    if cache is not None:
        examples = examples.cache(cache)
    return checked_batches(examples, batch_size)


def check_folder_input(params, key):
    """Raises ConfigError for settings an image folder in `key` cannot serve."""
    if str(params['cache']) != 'none':
        raise ConfigError('cache: %r needs TFRecords but %s names the image folder %s; set cache to none '
                          'or convert the folder with convert_dataset.py' % (params['cache'], key, params[key]))


def worker_share(items, input_context):
    """Returns this input pipeline's share of `items` (all of them when there are fewer than pipelines)."""
    pipelines = input_context.num_input_pipelines if input_context is not None else 1
    if pipelines <= 1 or len(items) < pipelines:
        return items
    return items[input_context.input_pipeline_id::pipelines]


def file_elements(pairs, per_epoch, seed, params):
    """Maps (path, label) pairs to examined records like read_records gives, with the file's bytes as the image.

    The index is -1 (a file, not a record in a shard); the epoch is the position // `per_epoch`.
    """
    def examine_file(position, path, label):
        encoded = tf.io.read_file(path)
        index = tf.constant(-1, tf.int64)
        key = record_keys(path, index)
        complete, problem = examine_images(encoded, label, params)
        return (path, index, encoded, label, key, complete, problem, example_draws(key, position // per_epoch, seed))
    return pairs.enumerate().map(lambda position, pair: examine_file(position, *pair), num_parallel_calls=AUTOTUNE)


def folder_training_elements(params, input_context, seed, epochs):
    """Returns the training elements of the image folder train_files, reshuffled every epoch.

    With balance_classes every class gives exactly as many images per epoch as
    the largest one: smaller classes cycle through their (reshuffled) files again.
    """
    found = image_folders.listing(params['train_files'].strip(), 'train_files')
    shuffle_seed = seed % (2 ** 31)
    if not params['balance_classes']:
        paths, labels = zip(*worker_share(list(zip(found.paths, found.labels)), input_context))
        files = tf.data.Dataset.from_tensor_slices((list(paths), tf.constant(labels, tf.int32)))
        files = files.shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True).repeat(epochs)
        return file_elements(files, len(paths), seed, params)
    if not found.classes:
        raise ConfigError('balance_classes: train_files folder %s has no class sub-folders to balance'
                          % params['train_files'])
    per_class = [worker_share([path for path, label in zip(found.paths, found.labels) if label == index],
                              input_context) for index in range(len(found.classes))]
    empty = [name for name, paths in zip(found.classes, per_class) if not paths]
    if empty:
        raise ConfigError('balance_classes: class folder(s) %s in train_files %s hold no images' % (
            ', '.join(empty), params['train_files']))
    largest = max(len(paths) for paths in per_class)
    classes = [tf.data.Dataset.from_tensor_slices((paths, tf.fill([len(paths)], index))).shuffle(
        len(paths), seed=shuffle_seed + index, reshuffle_each_iteration=True).repeat()
        for index, paths in enumerate(per_class)]
    per_epoch = largest * len(per_class)
    choices = tf.data.Dataset.range(len(per_class)).flat_map(
        lambda index: tf.data.Dataset.from_tensors(index).repeat(largest)).shuffle(
        per_epoch, seed=shuffle_seed, reshuffle_each_iteration=True).repeat(epochs)
    return file_elements(tf.data.Dataset.choose_from_datasets(classes, choices), per_epoch, seed, params)


def folder_evaluation_elements(params, input_context):
    """Returns the evaluation elements of the image folder eval_files in listing order.

    Labels follow the training classes (params['class_names']) when they include every sub-folder.
    """
    found = image_folders.listing(params['eval_files'].strip(), 'eval_files',
                                  known_classes=params.get('class_names'))
    paths, labels = zip(*worker_share(list(zip(found.paths, found.labels)), input_context))
    files = tf.data.Dataset.from_tensor_slices((list(paths), tf.constant(labels, tf.int32)))
    return file_elements(files, len(paths), 0, params)


def synthetic_dataset(params, training, batch_size, epochs):
    """Returns random batches of the real shapes (measures the model without the input pipeline)."""
    info = image_folders.describe(params['train_files' if training else 'eval_files'] or '')
    examples = info['count'] if info else params['synthetic_examples']
    batches = max(1, examples // batch_size)
    shape = [batch_size, params['image_size'], params['image_size'], params['channels']]
    images = tf.random.stateless_uniform(shape, seed=[params['random_seed'] or 0, 1], minval=0.0, maxval=255.0)
    num_classes = params.get('num_classes')
    labels = (tf.random.stateless_uniform([batch_size], seed=[params['random_seed'] or 0, 2],
                                          maxval=num_classes, dtype=tf.int32)
              if num_classes else tf.fill([batch_size], schema.UNLABELLED))
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat(batches)
    if training:
        dataset = dataset.repeat(epochs)
    return dataset


def read_records(files, input_context, training, seed, epochs, params):
    """Returns examined records (see examine_group) from `files`, `epochs` times.

    The file order is reshuffled on every pass in training and fixed in
    evaluation; each worker of a multi-worker run reads its own shards. A shard
    that ends early (truncated or corrupt framing) gives one final element whose
    `problem` says so. Every record's draw mixes in its epoch number (the draw
    seeds the augmentation), so epochs follow each other without restarting the pipeline.
    Records are read, accounted and examined in groups of RECORD_GROUP (a few
    ops per group instead of per record), then handed on one by one.
    """
    sizes = [tf.io.gfile.stat(path).length for path in files]
    file_list = tf.data.Dataset.from_tensor_slices((files, sizes))
    pipelines = input_context.num_input_pipelines if input_context is not None else 1
    shard_records = len(files) < pipelines  # too few shards to give each worker its own
    files_per_epoch = len(files)
    if pipelines > 1 and not shard_records:
        file_list = file_list.shard(pipelines, input_context.input_pipeline_id)
        files_per_epoch = len(range(input_context.input_pipeline_id, len(files), pipelines))
    if training:
        file_list = file_list.shuffle(len(files), seed=seed % (2 ** 31), reshuffle_each_iteration=True)
    file_list = file_list.repeat(epochs).enumerate().map(
        lambda position, file: (file[0], file[1], position // files_per_epoch))
    groups = file_list.interleave(read_file, num_parallel_calls=AUTOTUNE,
                                  deterministic=not training or shard_records)
    records = groups.map(lambda filename, start, group, problem, epoch, _: examine_group(
        filename, start, group, problem, epoch, seed, params), num_parallel_calls=AUTOTUNE).unbatch()
    if shard_records:
        records = records.shard(pipelines, input_context.input_pipeline_id)
    return records


def read_file(filename, size, epoch):
    """Returns (filename, index of the first record, records, problem, epoch, False) for each group of records
    of one shard; a shard whose records do not account for all of its bytes (truncated or corrupt framing) ends
    with a group of one empty record whose problem says so.

    One scan counts the bytes; an end marker after the last group either
    becomes that group or ends the shard (take_while on the last field).
    """
    groups = tf.data.TFRecordDataset(filename, buffer_size=READ_BUFFER_BYTES).ignore_errors(
        log_warning=True).batch(RECORD_GROUP)
    marked = tf.data.Dataset.zip((groups, tf.data.Dataset.from_tensors(False).repeat())).concatenate(
        tf.data.Dataset.from_tensors((tf.constant([b'']), True)))
    size = tf.cast(size, tf.int64)

    def account(state, element):
        start, consumed = state
        group, is_end = element
        truncated = tf.logical_and(is_end, tf.not_equal(consumed, size))
        problem = tf.cond(
            truncated,
            lambda: tf.strings.format('the shard is truncated or corrupt after record {} (read {} of {} bytes)',
                                      (start - 1, consumed, size)),
            lambda: tf.constant(''))
        count = tf.size(group, out_type=tf.int64)
        group_bytes = tf.reduce_sum(tf.cast(tf.strings.length(group), tf.int64)) + count * RECORD_OVERHEAD_BYTES
        complete = tf.logical_and(is_end, tf.logical_not(truncated))
        return (start + count, consumed + group_bytes), (filename, start, group, problem, epoch, complete)

    numbered = marked.scan((tf.constant(0, tf.int64), tf.constant(0, tf.int64)), account)
    return numbered.take_while(lambda filename_, start, group, problem, epoch_, complete: tf.logical_not(complete))


# ---------------------------------------------------------------- examining records

def examine_group(filename, start, group, problem, epoch, seed, params):
    """Returns the examined records of a group, as vectors with one entry per record:
    (filename, index in the file, encoded image, int32 label, key, complete, problem, draw).

    `key` is record_keys of the record's place; `draw` is example_draws(key, epoch, seed), the
    random number the example's augmentation is drawn from; `complete` says
    the JPEG or PNG ends with its end marker (others are decoded guarded);
    `problem` is '' or what is wrong, seen without decoding (`problem`, the
    group's own, comes first). Records that are not serialized Examples parse
    as empty ones, so one of them does not fail its group.
    """
    count = tf.size(group, out_type=tf.int64)
    is_example = starts_with(group, EXAMPLE_START)
    encoded, labels = parse_examples(select_strings(is_example, group, b''))
    complete, found = examine_images(encoded, labels, params)
    found = tf.where(is_example, found, 'not a serialized tf.train.Example')
    found = tf.where(tf.equal(problem, ''), found, problem)
    filenames, indices = tf.fill([count], filename), start + tf.range(count)
    key = record_keys(filenames, indices)
    return filenames, indices, encoded, labels, key, complete, found, example_draws(key, epoch, seed)


def parse_examples(records):
    """Returns (encoded images, int32 labels) of serialized Examples, from the schema keys or the older keys."""
    features = tf.io.parse_example(records, {
        schema.ENCODED: tf.io.FixedLenFeature([], tf.string, default_value=''),
        schema.LEGACY_ENCODED: tf.io.FixedLenFeature([], tf.string, default_value=''),
        schema.LABEL: tf.io.FixedLenFeature([], tf.int64, default_value=schema.UNLABELLED),
        schema.LEGACY_LABEL: tf.io.FixedLenFeature([], tf.int64, default_value=schema.UNLABELLED),
    })
    encoded = select_strings(tf.strings.length(features[schema.ENCODED]) > 0,
                             features[schema.ENCODED], features[schema.LEGACY_ENCODED])
    labels = tf.where(tf.not_equal(features[schema.LABEL], schema.UNLABELLED),
                      features[schema.LABEL], features[schema.LEGACY_LABEL])
    return encoded, tf.cast(labels, tf.int32)


def select_strings(condition, strings, others):
    """tf.where(condition, strings, others) for string vectors, without copying `strings` when all are chosen."""
    return tf.cond(tf.reduce_all(condition), lambda: strings, lambda: tf.where(condition, strings, others))


def starts_with(data, prefix):
    return tf.equal(tf.strings.substr(data, 0, len(prefix)), prefix)


def ends_with(data, suffix):
    position = tf.maximum(tf.strings.length(data) - len(suffix), 0)
    return tf.equal(tf.strings.substr(data, position, tf.fill(tf.shape(position), len(suffix))), suffix)


def record_keys(filename, index):
    """Returns the int64 key of the records at `index` of `filename` (index -1: the image file itself).

    A hash of the place, not of the image bytes: hashing every image would
    cost a pass over all its bytes, more than the rest of examine_group.
    """
    return tf.strings.to_hash_bucket_fast(tf.strings.join([filename, tf.strings.as_string(index)], separator='#'),
                                          2 ** 62)


def examine_images(encoded, labels, params):
    """Returns (complete, problem) of encoded images and their labels, element by element (any shape)."""
    complete = tf.logical_or(tf.logical_and(tf.io.is_jpeg(encoded), ends_with(encoded, JPEG_END)),
                             ends_with(encoded, PNG_END))
    known_format = tf.reduce_any(tf.stack([starts_with(encoded, magic) for magic in IMAGE_MAGICS]), axis=0)
    num_classes = params.get('num_classes')
    label_ok = tf.greater_equal(labels, schema.UNLABELLED)
    expected = ' is negative (only -1, unlabelled, is allowed)'
    if num_classes:
        label_ok = tf.logical_and(label_ok, tf.less(labels, num_classes))
        expected = ' outside 0..%d (num_classes %d)' % (num_classes - 1, num_classes)
    problem = tf.where(label_ok, '', tf.strings.join(['label ', tf.strings.as_string(labels), expected]))
    problem = tf.where(known_format, problem, 'not a JPEG, PNG, GIF or BMP image')
    problem = tf.where(tf.equal(tf.strings.length(encoded), 0), 'no image bytes under image/encoded or image', problem)
    return complete, problem


# ---------------------------------------------------------------- one example

def guarded(load, encoded, argument, fallback):
    """Returns (load(encoded, argument), '') or (fallback, problem) when decoding fails, without failing.

    The attempt runs in a one-element dataset whose error is logged and
    dropped; only images that do not look complete take this slower path.
    """
    attempt = tf.data.Dataset.from_tensors((encoded, argument)).map(load).ignore_errors(log_warning=True)
    attempt = attempt.map(lambda *outputs: (outputs, tf.constant('')))
    failure = tf.data.Dataset.from_tensors(
        (fallback, tf.constant('the image cannot be decoded (the warning logged above says why)')))
    return attempt.concatenate(failure).take(1).get_single_element()


def checked_load(encoded, argument, complete, problem, load, fallback):
    """Returns (load(encoded, argument), problem) for an examined record.

    `load` returns a tuple like `fallback`, which stands in when the record
    has a problem or its image cannot be decoded; payload_or_failure then
    fails on it, or skipping_problems skips it.
    """
    clean = tf.equal(problem, '')

    def doubtful():
        return tf.cond(clean, lambda: guarded(load, encoded, argument, fallback), lambda: (fallback, problem))
    return tf.cond(tf.logical_and(complete, clean), lambda: (load(encoded, argument), problem), doubtful)


def train_example_from_record(filename, index, encoded, label, key, complete, problem, draw, params):
    """Training example decoded straight from the crop window of an examined record's image."""
    del key

    def crop_and_augment(encoded, draw):
        def window(shape):
            return distorted_window(shape, draw_seed(draw, CROP), params)
        image = flipped(decode_crop_resize(encoded, window, params), flip_decision(draw, params))
        return (color_jitter(image, draw, params),)

    size = params['image_size']
    fallback = (tf.zeros([size, size, params['channels']]),)
    outputs, problem = checked_load(encoded, draw, complete, problem, crop_and_augment, fallback)
    return (outputs[0], label), filename, index, problem


def decode_for_cache(filename, index, encoded, label, key, complete, problem, draw, params):
    """Pre-augmentation training example to cache: the whole image, shorter side at most cache_image_size."""
    del draw

    def decode_whole(encoded, key):
        del key
        return (decode_crop_resize(encoded, lambda shape: tf.stack([0, 0, shape[0], shape[1]]),
                                   params, shorter_side=cached_side(params)),)

    fallback = (tf.zeros([1, 1, params['channels']], tf.uint8),)
    outputs, problem = checked_load(encoded, key, complete, problem, decode_whole, fallback)
    return (outputs[0], label, key), filename, index, problem


def train_example_from_image(image, label, key, epoch, seed, params):
    """Training example cropped and augmented from a cached decoded image."""
    draw = example_draws(key, epoch, seed)
    window = distorted_window(tf.shape(image)[:2], draw_seed(draw, CROP), params)
    image = flipped(crop_resize(image, window, params), flip_decision(draw, params))
    return color_jitter(image, draw, params), label


def eval_example(filename, index, encoded, label, key, complete, problem, draw, params):
    """Evaluation example: the same preprocessing as serving."""
    del draw
    size = params['image_size']
    fallback = (tf.zeros([size, size, params['channels']]),)
    outputs, problem = checked_load(encoded, key, complete, problem,
                                    lambda encoded, key: (preprocess_for_serving(encoded, params),), fallback)
    return (outputs[0], label), filename, index, problem


def location(filename, index):
    """Returns 'record INDEX of FILE' for a TFRecord record, the file name for an image file (index -1)."""
    return tf.where(index < 0, filename,
                    tf.strings.join(['record ', tf.strings.as_string(index), ' of ', filename]))


def examined_map(elements, example_fn, skip_corrupt):
    """Maps `example_fn` (element -> (payload, filename, index, problem)) over `elements` in parallel.

    With `skip_corrupt` the elements with a problem are dropped and counted;
    otherwise they go on, to fail where payload_or_failure checks them.
    """
    examples = elements.map(example_fn, num_parallel_calls=AUTOTUNE)
    return skipping_problems(examples) if skip_corrupt else examples


def checked_batches(examples, batch_size, drop_remainder=False):
    """Batches (payload, filename, index, problem) examples into payload batches, checking each batch once."""
    return examples.batch(batch_size, drop_remainder=drop_remainder).map(payload_or_failure,
                                                                         num_parallel_calls=AUTOTUNE)


def payload_or_failure(payload, filename, index, problem):
    """Returns `payload`, or fails with 'input_fn: <location>: <problem>' for the first element with a problem.

    Takes one example or a batch of them (filename, index and problem then vectors).
    """
    problems, filenames, indices = (tf.reshape(part, [-1]) for part in (problem, filename, index))

    def fail():
        first = tf.argmax(tf.cast(tf.not_equal(problems, ''), tf.int32))
        message = tf.strings.join(['input_fn: ', location(filenames[first], indices[first]), ': ', problems[first],
                                   '; set skip_corrupt: true to skip such records'])
        with tf.control_dependencies([tf.debugging.Assert(False, [message])]):
            return tf.constant(False)
    checked = tf.cond(tf.reduce_all(tf.equal(problems, '')), lambda: tf.constant(True), fail)
    with tf.control_dependencies([checked]):
        return tf.nest.map_structure(tf.identity, payload)


def skipping_problems(dataset):
    """Drops the (payload, filename, index, problem) elements with a problem, logging each with a running count.

    The elements kept keep their form (their problem is '')."""
    def count(skipped, element):
        payload, filename, index, problem = element
        bad = tf.not_equal(problem, '')
        skipped = skipped + tf.cast(bad, tf.int64)
        return skipped, (payload, filename, index, problem, skipped)

    def log_skip(payload, filename, index, problem, skipped):
        def log():
            tf.print(tf.strings.join(['input_fn: skipped ', location(filename, index), ': ', problem,
                                      ' (', tf.strings.as_string(skipped), ' skipped so far)']),
                     output_stream=sys.stderr)
            return tf.constant(True)
        logged = tf.cond(tf.equal(problem, ''), lambda: tf.constant(False), log)
        return (payload, filename, index, problem), tf.logical_not(logged)

    return dataset.scan(tf.constant(0, tf.int64), count).map(log_skip).filter(
        lambda example, keep: keep).map(lambda example, keep: example)


# ---------------------------------------------------------------- geometry and decoding

def central_window(shape, fraction):
    """Returns [y, x, height, width] of the central square keeping `fraction` of the shorter side."""
    side = tf.maximum(1, tf.cast(fraction * tf.cast(tf.reduce_min(shape), tf.float32), tf.int32))
    return tf.concat([(shape - side) // 2, [side, side]], axis=0)


def distorted_window(shape, seed, params):
    """Returns a random [y, x, height, width] window (Inception-style), or the central crop when sampling fails."""
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.concat([shape, [params['channels']]], axis=0),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=params['crop_aspect_range'],
        area_range=params['crop_area_range'],
        max_attempts=params['crop_max_attempts'],
        use_image_if_no_bounding_boxes=True)
    failed = tf.reduce_all(tf.equal(size[:2], shape))
    return tf.where(failed, central_window(shape, params['eval_crop_fraction']),
                    tf.concat([begin[:2], size[:2]], axis=0))


def dct_ratio_index(window, side):
    """Index into DCT_RATIOS of the largest reduced JPEG scale that keeps the window's shorter side >= `side`."""
    shorter = tf.reduce_min(window[2:])
    return tf.reduce_sum(tf.cast(shorter >= [ratio * side for ratio in DCT_RATIOS[1:]], tf.int32))


def decode_jpeg_window(encoded, window, channels, side):
    """Decodes only `window` of a JPEG, at 1/2, 1/4 or 1/8 scale when the window is that much larger than `side`.

    At ratio r, decode_and_crop_jpeg takes the window in the scaled image's
    coordinates: the full-size window divided by r.
    """
    def at_ratio(ratio):
        return lambda: tf.io.decode_and_crop_jpeg(encoded, window // ratio, channels=channels, ratio=ratio)
    return tf.switch_case(dct_ratio_index(window, side), [at_ratio(ratio) for ratio in DCT_RATIOS])


def decode_any(encoded, channels):
    """Decodes a PNG, GIF or BMP (or JPEG) into uint8 with exactly `channels` channels."""
    image = tf.io.decode_image(encoded, channels=0, expand_animations=False)
    present = tf.shape(image)[-1]
    if channels == 1:
        image = tf.cond(present >= 3,
                        lambda: tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(image[..., :3], tf.float32))),
                                        tf.uint8),
                        lambda: image[..., :1])
    else:
        image = tf.cond(present >= 3, lambda: image[..., :3], lambda: tf.tile(image[..., :1], [1, 1, 3]))
    image.set_shape([None, None, channels])
    return image


def decode_crop_resize(encoded, window_fn, params, shorter_side=None):
    """Decodes the window `window_fn(shape)` of an encoded image and resizes it.

    Without `shorter_side` the result is float32 [image_size, image_size,
    channels] in [0, 255]; with it, uint8 keeping the aspect ratio, the shorter
    side brought down to `shorter_side`. JPEGs decode only the window.
    """
    channels = params['channels']
    side = shorter_side or params['image_size']

    def jpeg():
        window = window_fn(tf.io.extract_jpeg_shape(encoded)[:2])
        return decode_jpeg_window(encoded, window, channels, side)

    def other():
        image = decode_any(encoded, channels)
        window = window_fn(tf.shape(image)[:2])
        return tf.slice(image, [window[0], window[1], 0], [window[2], window[3], channels])

    image = tf.cond(tf.io.is_jpeg(encoded), jpeg, other)
    image.set_shape([None, None, channels])
    if shorter_side is None:
        return resize(image, [params['image_size'], params['image_size']], params)
    return shrink(image, shorter_side, params)


def crop_resize(image, window, params):
    """Crops `window` out of a decoded image and resizes it to image_size (float32 in [0, 255])."""
    cropped = tf.slice(image, [window[0], window[1], 0], [window[2], window[3], params['channels']])
    return resize(cropped, [params['image_size'], params['image_size']], params)


def resize(image, size, params):
    return tf.cast(tf.image.resize(image, size, method=params['resize_method']), tf.float32)


def shrink(image, shorter_side, params):
    """Returns uint8 `image` with its shorter side brought down to `shorter_side` (never enlarged)."""
    shape = tf.shape(image)[:2]
    scale = tf.minimum(1.0, shorter_side / tf.cast(tf.reduce_min(shape), tf.float32))
    size = tf.maximum(1, tf.cast(tf.round(tf.cast(shape, tf.float32) * scale), tf.int32))
    resized = tf.cond(scale < 1.0,
                      lambda: tf.cast(tf.clip_by_value(tf.round(resize(image, size, params)), 0, 255), tf.uint8),
                      lambda: image)
    resized.set_shape([None, None, params['channels']])
    return resized


def cached_side(params):
    return params['cache_image_size'] or params['image_size']


# ---------------------------------------------------------------- augmentation

def example_draws(key, epoch, seed):
    """Returns the random number (int64, 62 bits) that one example's augmentation in one epoch is drawn from.

    A hash of the image key, the epoch and the run seed, element by element
    (any shape): reproducible with random_seed, new in every epoch.
    """
    return tf.strings.to_hash_bucket_fast(tf.strings.join(
        [tf.strings.as_string(key), tf.strings.as_string(epoch), str(seed)], separator='/'), 2 ** 62)


def draw_seed(draw, purpose):
    """Returns the stateless seed (int64 [2]) for one `purpose` (CROP or COLOUR) of an example's draw."""
    return tf.stack([draw, tf.constant(purpose, tf.int64)])


def flip_decision(draw, params):
    """Returns None (random_flip off) or a scalar bool: whether this example is mirrored (the draw's lowest bit)."""
    if not params['random_flip']:
        return None
    return tf.equal(tf.bitwise.bitwise_and(draw, 1), 1)


def flipped(image, flip):
    """Mirrors `image` left-right when the scalar bool `flip` is true (None: never).

    Training mirrors the resized output: tf.reverse costs per pixel, and for
    photos larger than the output the average crop window has more pixels.
    """
    if flip is None:
        return image
    return tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)


def color_jitter(image, draw, params):
    """Optional colour jitter of a float32 [0, 255] image (still in [0, 255])."""
    if params['color_jitter']:
        colour = tf.random.experimental.stateless_split(draw_seed(draw, COLOUR), num=4)
        image = image / 255.0
        image = tf.image.stateless_random_brightness(image, 32.0 / 255.0, seed=colour[0])
        image = tf.image.stateless_random_contrast(image, 0.5, 1.5, seed=colour[1])
        if params['channels'] == 3:
            image = tf.image.stateless_random_saturation(image, 0.5, 1.5, seed=colour[2])
            image = tf.image.stateless_random_hue(image, 0.2, seed=colour[3])
        image = tf.clip_by_value(image, 0.0, 1.0) * 255.0
    return image


def _features_and_labels(images, labels):
    return {'image': images}, labels


# ---------------------------------------------------------------- cache

def cache_setting(params, files, training, input_context):
    """Returns None (no cache), '' (memory) or the cache file for these files and settings."""
    setting = str(params['cache'])
    if setting == 'none':
        return None
    if setting == 'memory':
        check_memory_cache_fits(params, files, training)
        return ''
    content = {
        'files': [[path, tf.io.gfile.stat(path).length, tf.io.gfile.stat(path).mtime_nsec] for path in files],
        'mode': 'train' if training else 'eval',
        'image_size': params['image_size'],
        'channels': params['channels'],
        'resize_method': params['resize_method'],
        'pixel_range': [0, 255],
        'skip_corrupt': params['skip_corrupt'],
        'num_classes': params.get('num_classes'),
        'shard': [input_context.input_pipeline_id, input_context.num_input_pipelines] if input_context else None,
    }
    if training:
        content['cache_image_size'] = cached_side(params)
    else:
        content['eval_crop_fraction'] = params['eval_crop_fraction']
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
    tf.io.gfile.makedirs(setting)
    return os.path.join(setting, '%s-%s' % (content['mode'], digest))


def sample_records(path, limit):
    """Returns up to `limit` serialized records from the start of a TFRecord file (read in Python)."""
    records = []
    with tf.io.gfile.GFile(path, 'rb') as stream:
        while len(records) < limit:
            header = stream.read(12)
            if len(header) < 12:
                break
            length = int.from_bytes(header[:8], 'little')
            data = stream.read(length + 4)
            if len(data) < length + 4:
                break
            records.append(data[:length])
    return records


def image_dimensions(record):
    """Returns (height, width) stored in a serialized Example (schema or older keys), or None."""
    features = tf.train.Example.FromString(record).features.feature
    for height_key, width_key in ((schema.HEIGHT, schema.WIDTH), (schema.LEGACY_HEIGHT, schema.LEGACY_WIDTH)):
        if features[height_key].int64_list.value and features[width_key].int64_list.value:
            return features[height_key].int64_list.value[0], features[width_key].int64_list.value[0]
    return None


def available_memory_bytes():
    """Returns the RAM available to new allocations (MemAvailable on Linux)."""
    try:
        with open('/proc/meminfo') as meminfo:
            for line in meminfo:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')


def memory_cache_bytes(params, files, training):
    """Estimates the bytes a memory cache of `files` takes (count from <name>.json or the shard sizes)."""
    sampled = sample_records(files[0], SAMPLED_RECORDS)
    if not sampled:
        return 0
    info = image_folders.describe(params['train_files' if training else 'eval_files'])
    if info and info.get('count'):
        count = info['count']
    else:
        total_bytes = sum(tf.io.gfile.stat(path).length for path in files)
        count = total_bytes / (sum(len(record) + RECORD_OVERHEAD_BYTES for record in sampled) / len(sampled))
    channels = params['channels']
    if not training:
        return count * params['image_size'] ** 2 * channels * 4
    side = cached_side(params)
    per_image = []
    for record in sampled:
        dimensions = image_dimensions(record)
        if dimensions is None or min(dimensions) == 0:
            per_image.append(side * side * channels)
        else:
            height, width = dimensions
            scale = min(1.0, side / min(height, width))
            per_image.append(height * scale * width * scale * channels)
    return count * sum(per_image) / len(per_image)


def check_memory_cache_fits(params, files, training):
    """Raises ConfigError when `cache: memory` would not fit in the available RAM."""
    needed = memory_cache_bytes(params, files, training)
    available = available_memory_bytes()
    if needed > MEMORY_CACHE_FRACTION * available:
        raise ConfigError(
            'cache: memory needs about %.1f GiB for %s but only %.1f GiB of RAM is available; '
            'set cache to a directory instead, e.g. --cache /tmp/input_cache' % (
                needed / 2 ** 30, params['train_files' if training else 'eval_files'], available / 2 ** 30))
