"""`cache`: where decoded images are kept between epochs (memory or a folder), and whether memory suffices.

A training cache holds each image decoded once, its shorter side brought down
to cache_image_size (the crops are still drawn anew every epoch); an
evaluation cache holds the finished examples. A folder cache is named by a
hash of the files and of every setting that changes its content, so a
changed setting never reads a stale cache.
"""
import hashlib
import json
import os

import tensorflow as tf

from library import image_folders
from library import tfrecord_schema as schema
from library.config import ConfigError
from library.data.examine import RECORD_OVERHEAD_BYTES
from library.memory import available_memory_bytes

MEMORY_CACHE_FRACTION = 0.8  # share of the available RAM a memory cache may take
SAMPLED_RECORDS = 32  # records read to estimate the size of a memory cache


def cached_side(params):
    return params['cache_image_size'] or params['image_size']


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
