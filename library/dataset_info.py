"""The `<name>.json` written next to a converted dataset's TFRecord shards.

It holds `count`, `classes` (names in label order), `shards` and `skipped`
(each `{"file", "reason"}`), plus per-class counts and the conversion options.
"""
import json
import os
import re

import tensorflow as tf

from library import files
from library.config import ConfigError

SHARD_SUFFIX = '.tfrecord'
SHARD_NAME = re.compile(r'^(?P<name>.+)-(?P<index>\d{5})-of-(?P<total>\d{5})\.tfrecord$')


def shard_file_name(name, index, total):
    """Returns the file name of shard `index` of `total` for dataset `name`."""
    return '%s-%05d-of-%05d%s' % (name, index, total, SHARD_SUFFIX)


def shard_glob(tfrecord_dir, name):
    """Returns the glob that matches every shard of dataset `name` in `tfrecord_dir`."""
    return os.path.join(tfrecord_dir, '%s-?????-of-?????%s' % (name, SHARD_SUFFIX))


def missing_shards(paths):
    """Returns the paths of shards absent from the NAME-xxxxx-of-NNNNN.tfrecord sets that `paths` hold.

    A set with a missing shard is the output of a conversion that was cut off
    or of an incomplete copy; reading it would silently train on part of the data.
    """
    present = {}
    for path in paths:
        match = SHARD_NAME.match(os.path.basename(path))
        if match:
            key = (os.path.dirname(path), match.group('name'), int(match.group('total')))
            present.setdefault(key, set()).add(int(match.group('index')))
    return [os.path.join(folder, shard_file_name(name, index, total))
            for (folder, name, total), indices in sorted(present.items())
            for index in range(total) if index not in indices]


def info_path(tfrecord_dir, name):
    """Returns the path of the json that describes dataset `name` in `tfrecord_dir`."""
    return os.path.join(tfrecord_dir, name + '.json')


def read(path):
    """Returns the dict stored in the json file `path`, or raises ConfigError."""
    try:
        with tf.io.gfile.GFile(path, 'r') as stream:
            info = json.load(stream)
    except tf.errors.NotFoundError:
        raise ConfigError('%s: file not found' % path) from None
    except (tf.errors.OpError, OSError) as error:
        raise ConfigError('%s: cannot read (%s)' % (
            path, getattr(error, 'message', error))) from None
    except ValueError as error:
        raise ConfigError('%s: invalid JSON (%s)' % (path, error)) from None
    if not isinstance(info, dict):
        raise ConfigError('%s: expected a JSON object, got %s' % (path, type(info).__name__))
    return info


def write(path, info):
    """Writes `info` as JSON to `path` atomically (temporary file, then rename)."""
    files.write_atomically(path, json.dumps(info, indent=1) + '\n')


def _datasets_matching(pattern):
    """Returns sorted (folder, name) pairs of the shard sets that `pattern` matches."""
    datasets = set()
    for path in tf.io.gfile.glob(pattern):
        match = SHARD_NAME.match(os.path.basename(path))
        if match:
            datasets.add((os.path.dirname(path), match.group('name')))
    return sorted(datasets)


def load(file_pattern):
    """Returns the dataset info for a shard pattern such as `dataset/train/train-*.tfrecord`.

    A comma-separated list of patterns gives the infos merged (counts added,
    classes must agree, `shards` then holds full paths instead of file names).
    Returns None when a pattern matches no shard or has no `<name>.json`.
    """
    infos = []
    for pattern in [part.strip() for part in file_pattern.split(',') if part.strip()]:
        datasets = _datasets_matching(pattern)
        if not datasets:
            return None
        for folder, name in datasets:
            path = info_path(folder, name)
            if not tf.io.gfile.exists(path):
                return None
            infos.append((path, read(path)))
    if not infos:
        return None
    if len(infos) == 1:
        return infos[0][1]
    return _merged(infos)


def _merged(infos):
    """Merges the infos of several shard sets that share one class list."""
    first_path, first = infos[0]
    merged = dict(first, count=0, shards=[], skipped=[])
    for path, info in infos:
        if info.get('classes') != first.get('classes'):
            raise ConfigError('%s: classes %s differ from %s in %s; convert both with the same '
                              '--labels_file' % (path, info.get('classes'), first.get('classes'),
                                                 first_path))
        merged['count'] += info.get('count', 0)
        merged['shards'] += [os.path.join(os.path.dirname(path), shard)
                             for shard in info.get('shards', [])]
        merged['skipped'] += info.get('skipped', [])
    if all('class_counts' in info for _, info in infos):
        merged['class_counts'] = [sum(counts) for counts in zip(
            *[info['class_counts'] for _, info in infos])]
    return merged
