"""Which TFRecord shards a pipeline reads: the files of a config key, and one worker's share of them."""
import os

import tensorflow as tf

from library import dataset_info
from library.config import ConfigError


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
    files = sorted(set(files))
    check_recorded_sizes(files, key)
    return files


def recorded_sizes(folder, name):
    """Returns {shard file name: bytes} that <name>.json in `folder` records ({} when it records none)."""
    path = dataset_info.info_path(folder, name)
    if not tf.io.gfile.exists(path):
        return {}
    return {shard['file']: shard['bytes'] for shard in dataset_info.read(path).get('shard_sizes', [])}


def check_recorded_sizes(files, key):
    """Raises ConfigError for a shard whose size differs from the one its <name>.json records: a shard cut
    off or replaced after the conversion is refused before anything reads it."""
    recorded = {}
    for path in files:
        match = dataset_info.SHARD_NAME.match(os.path.basename(path))
        if not match:
            continue
        folder = os.path.dirname(path)
        if (folder, match.group('name')) not in recorded:
            recorded[folder, match.group('name')] = recorded_sizes(folder, match.group('name'))
        expected = recorded[folder, match.group('name')].get(os.path.basename(path))
        size = tf.io.gfile.stat(path).length
        if expected is not None and size != expected:
            raise ConfigError('%s: %s is %d bytes but %s.json records %d (cut off or replaced after the '
                              'conversion); convert again or copy the whole set' % (
                                  key, path, size, match.group('name'), expected))


def worker_share(items, input_context):
    """Returns this input pipeline's share of `items` (all of them when there are fewer than pipelines)."""
    pipelines = input_context.num_input_pipelines if input_context is not None else 1
    if pipelines <= 1 or len(items) < pipelines:
        return items
    return items[input_context.input_pipeline_id::pipelines]


def share_records(dataset, files, input_context):
    """Shards the records of `dataset` between the pipelines when there are fewer `files` than pipelines
    (worker_share then gave every pipeline all of them)."""
    pipelines = input_context.num_input_pipelines if input_context is not None else 1
    if 1 < pipelines and len(files) < pipelines:
        return dataset.shard(pipelines, input_context.input_pipeline_id)
    return dataset
