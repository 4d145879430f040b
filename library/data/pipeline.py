"""Assembles the input pipeline of one mode around the recipe's per-example functions.

`train_fn(image, seed)` and `eval_fn(encoded)` (project/preprocessing.py) turn
one image into float32 [image_size, image_size, channels] pixels in [0, 255];
`image` is an encoded JPEG/PNG/GIF/BMP or, from a training cache, decoded
uint8 pixels, and `seed` is the example's stateless seed (library/data/seeds.py).

The fast path (TFRecords, no cache, skip_corrupt off) only reads, shuffles,
parses, preprocesses and batches, plus one label-range check per batch: no
per-record examination. When it fails, the run looks for the record that made
it fail with the examining reader (library/data/diagnose.py). skip_corrupt,
caches and image folders go through the examining reader from the start.
"""
import tensorflow as tf

from library import image_folders
from library import tfrecord_schema as schema
from library.config import ConfigError
from library.data import cache as cache_lib
from library.data import decode, examine, folders, seeds, shards

AUTOTUNE = tf.data.AUTOTUNE
SHUFFLE_SEED_RANGE = 2 ** 31


def check_params(params):
    """Raises ConfigError for input settings that cannot work."""
    if params['channels'] not in (1, 3):
        raise ConfigError('channels: expected 1 or 3, got %r' % params['channels'])
    if params['image_size'] < 1:
        raise ConfigError('image_size: expected a positive integer, got %r' % params['image_size'])
    if params['resize_method'] not in decode.RESIZE_METHODS:
        raise ConfigError('resize_method: expected one of %s, got %r' % (
            ', '.join(decode.RESIZE_METHODS), params['resize_method']))
    if not params['cache']:
        raise ConfigError("cache: expected none, memory or a directory, got %r" % params['cache'])


def make_dataset(mode, params, input_context, epochs, train_fn, eval_fn):
    """Returns the tf.data.Dataset of (features, labels) for `mode` (features only in PREDICT).

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
        dataset = training_dataset(params, input_context, batch_size, epochs, train_fn)
    else:
        dataset = evaluation_dataset(params, input_context, batch_size, eval_fn)
    dataset = dataset.map(lambda images, labels: ({'image': images}, labels), num_parallel_calls=AUTOTUNE)
    if mode == tf.estimator.ModeKeys.PREDICT:
        dataset = dataset.map(lambda features, labels: features)
    dataset = dataset.prefetch(AUTOTUNE).with_options(pipeline_options())
    device = prefetch_device(params, input_context)
    if device:
        dataset = dataset.apply(tf.data.experimental.prefetch_to_device(device))
    return dataset


def pipeline_options():
    """One thread per op: the parallel maps already keep every core busy with whole examples."""
    options = tf.data.Options()
    options.threading.max_intra_op_parallelism = 1
    return options


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


def read_records(files, input_context, training, seed, epochs, deterministic=True):
    """Returns (serialized record, place seed, index in its shard) of this pipeline's share of `files`.

    The shard order is reshuffled every pass in training and fixed in
    evaluation; records are interleaved as they come unless `deterministic`.
    """
    share = shards.worker_share(files, input_context)
    file_list = tf.data.Dataset.from_tensor_slices(share)
    if training:
        file_list = file_list.shuffle(len(share), seed=seed % SHUFFLE_SEED_RANGE, reshuffle_each_iteration=True)
    file_list = file_list.repeat(epochs).enumerate().map(
        lambda position, name: (name, seeds.place_seed(name, position // len(share), seed)))

    def shard_records(name, place):
        return tf.data.TFRecordDataset(name, buffer_size=examine.READ_BUFFER_BYTES).enumerate().map(
            lambda index, record: (record, place, index))
    records = file_list.interleave(shard_records, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    return shards.share_records(records, files, input_context)


def checked_labels(batches, num_classes):
    """Fails a batch holding a label below -1 or (with `num_classes`) not below num_classes."""
    def check(images, labels):
        checks = [tf.debugging.assert_greater_equal(labels, schema.UNLABELLED, message='input_fn: bad label')]
        if num_classes:
            checks.append(tf.debugging.assert_less(labels, num_classes, message='input_fn: bad label'))
        with tf.control_dependencies(checks):
            return images, tf.identity(labels)
    return batches.map(check, num_parallel_calls=AUTOTUNE)


def examined_records(files, input_context, training, seed, epochs, num_classes):
    """The examining reader over this pipeline's share of `files`."""
    share = shards.worker_share(files, input_context)
    elements = examine.read_records(share, training, seed, epochs, num_classes)
    return shards.share_records(elements, files, input_context)


def image_fallback(params):
    return (tf.zeros([params['image_size'], params['image_size'], params['channels']]),)


def seeded_load(train_fn, seed):
    """Returns the examined-element loader that applies `train_fn` with the element's example seed."""
    def load(element):
        place = seeds.place_seed(element['filename'], element['epoch'], seed)
        return (train_fn(element['encoded'], seeds.example_seed(place, element['index'])),)
    return load


def training_dataset(params, input_context, batch_size, epochs, train_fn):
    """Returns the batched training dataset of (image, label) pairs."""
    seed = seeds.run_seed(params['random_seed'], params.get('model_dir'))
    shuffle_buffer = max(1, params['shuffle_buffer'])
    if image_folders.is_image_folder(params['train_files']):
        folders.check_folder_input(params, 'train_files')
        elements = folders.training_elements(params, input_context, seed % SHUFFLE_SEED_RANGE, epochs)
        examples = examine.examined_map(elements, seeded_load(train_fn, seed), image_fallback(params),
                                        params['skip_corrupt'])
        return examine.checked_batches(examples, batch_size, drop_remainder=True)
    if params['balance_classes']:
        raise ConfigError('balance_classes: true needs an image folder in train_files (class sub-folders), '
                          'got the TFRecord pattern %r' % params['train_files'])
    files = shards.matching_files(params['train_files'], 'train_files')
    cache = cache_lib.cache_setting(params, files, training=True, input_context=input_context)
    if cache is not None:
        return cached_training_dataset(params, files, input_context, cache, seed, epochs, batch_size, train_fn)
    if params['skip_corrupt']:
        elements = examined_records(files, input_context, True, seed, epochs, params.get('num_classes'))
        elements = elements.shuffle(shuffle_buffer, seed=seed % SHUFFLE_SEED_RANGE, reshuffle_each_iteration=True)
        examples = examine.examined_map(elements, seeded_load(train_fn, seed), image_fallback(params), True)
        return examine.checked_batches(examples, batch_size, drop_remainder=True)
    reproducible = params['random_seed'] is not None
    records = read_records(files, input_context, True, seed, epochs, deterministic=reproducible).shuffle(
        shuffle_buffer, seed=seed % SHUFFLE_SEED_RANGE, reshuffle_each_iteration=True)

    def example(record, place, index):
        encoded, label = examine.parse_examples(record)
        return train_fn(encoded, seeds.example_seed(place, index)), label
    batches = records.map(example, num_parallel_calls=AUTOTUNE).batch(batch_size, drop_remainder=True)
    return checked_labels(batches, params.get('num_classes'))


def cached_training_dataset(params, files, input_context, cache, seed, epochs, batch_size, train_fn):
    """Training from a cache of whole decoded images (shorter side at most cache_image_size), cropped anew
    every epoch."""
    side = cache_lib.cached_side(params)
    channels = params['channels']

    def decode_whole(element):
        image = decode.decode_window(element['encoded'], lambda shape: tf.stack([0, 0, shape[0], shape[1]]),
                                     channels, side)
        return decode.shrink(image, side, params['resize_method']), element['filename'], element['index']

    fallback = (tf.zeros([1, 1, channels], tf.uint8), tf.constant(''), tf.constant(-1, tf.int64))
    elements = examined_records(files, input_context, True, seed, 1, params.get('num_classes'))
    cached = examine.examined_map(elements, decode_whole, fallback, params['skip_corrupt'])
    cached = cached.map(examine.payload_or_failure, num_parallel_calls=AUTOTUNE).cache(cache)
    shuffle_buffer = max(1, params['shuffle_buffer'])
    epoch_numbers = tf.data.Dataset.range(epochs) if epochs is not None else tf.data.Dataset.counter()
    examples = epoch_numbers.flat_map(lambda epoch: tf.data.Dataset.zip((
        cached.shuffle(shuffle_buffer, seed=seed % SHUFFLE_SEED_RANGE, reshuffle_each_iteration=True),
        tf.data.Dataset.from_tensors(epoch).repeat())))

    def example(cached_example, epoch):
        image, filename, index, label = cached_example
        return train_fn(image, seeds.example_seed(seeds.place_seed(filename, epoch, seed), index)), label
    return examples.map(example, num_parallel_calls=AUTOTUNE).batch(batch_size, drop_remainder=True)


def evaluation_dataset(params, input_context, batch_size, eval_fn):
    """Returns the batched, deterministic evaluation dataset of (image, label) pairs."""
    def load(element):
        return (eval_fn(element['encoded']),)
    if image_folders.is_image_folder(params['eval_files']):
        folders.check_folder_input(params, 'eval_files')
        elements = folders.evaluation_elements(params, 'eval_files', input_context)
        examples = examine.examined_map(elements, load, image_fallback(params), params['skip_corrupt'])
        return examine.checked_batches(examples, batch_size)
    files = shards.matching_files(params['eval_files'], 'eval_files')
    cache = cache_lib.cache_setting(params, files, training=False, input_context=input_context)
    if params['skip_corrupt']:
        elements = examined_records(files, input_context, False, 0, 1, params.get('num_classes'))
        examples = examine.examined_map(elements, load, image_fallback(params), True)
        examples = examples.map(examine.payload_or_failure, num_parallel_calls=AUTOTUNE)
    else:
        def example(record, place, index):
            encoded, label = examine.parse_examples(record)
            return eval_fn(encoded), label
        examples = read_records(files, input_context, False, 0, 1).map(example, num_parallel_calls=AUTOTUNE)
    if cache is not None:
        examples = examples.cache(cache)
    return checked_labels(examples.batch(batch_size), params.get('num_classes'))


def synthetic_dataset(params, training, batch_size, epochs):
    """Returns random batches of the real shapes (measures the model without the input pipeline)."""
    info = image_folders.describe(params['train_files' if training else 'eval_files'] or '')
    examples = info['count'] if info else params['synthetic_examples']
    batches = max(1, examples // batch_size)
    shape = [batch_size, params['image_size'], params['image_size'], params['channels']]
    seed = params['random_seed'] or 0
    images = tf.random.stateless_uniform(shape, seed=[seed, 1], minval=0.0, maxval=255.0)
    num_classes = params.get('num_classes')
    labels = (tf.random.stateless_uniform([batch_size], seed=[seed, 2], maxval=num_classes, dtype=tf.int32)
              if num_classes else tf.fill([batch_size], schema.UNLABELLED))
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat(batches)
    return dataset.repeat(epochs) if training else dataset
