"""Best-validation snapshots: copy the checkpoint with the best metric into best_model_dir.

Layout of best_model_dir:
    best.json            the record of the best snapshot (metric, mode, value, global_step,
                         checkpoint, time) plus `snapshots`, the kept ones best first, and
                         `model_dir`, the run it belongs to (relative when best_dir lies in it)
    step-<N>/            one copied checkpoint (model.ckpt-<N>.* and a `checkpoint` state file)

Every snapshot is first copied into a temporary folder, moved into place, and only then
named in best.json, which is itself written to a temporary file and renamed. A kill at any
moment therefore leaves best.json describing a complete snapshot; leftover temporary
folders are removed when the next run starts and are never read. The snapshot's
`checkpoint` in best.json is relative to best_model_dir, so the folder can be moved.
Only folders this module created and listed in best.json are ever deleted. best.json is
checked when it is read: a wrong value, or a record of another run's model_dir, is one line.
"""
import datetime
import json
import math
import os
import posixpath

import tensorflow as tf

from library import files
from library.config import ConfigError
from library.files import join

BEST_JSON = 'best.json'
SNAPSHOT_PREFIX = 'step-'
MODES = ('min', 'max')


def utc_now():
    """Returns the current UTC time in ISO 8601, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


def read_record(best_dir):
    """Returns the parsed, checked best.json of `best_dir`, or None when there is none."""
    path = join(best_dir, BEST_JSON)
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path) as stream:
            record = json.load(stream)
    except (ValueError, tf.errors.OpError) as error:
        raise ConfigError('%s: cannot read the best-snapshot record (%s)' % (path, error)) from None
    problem = record_problem(record, best_dir)
    if problem:
        raise ConfigError('%s: %s; fix or move away that file' % (path, problem))
    return record


def is_real_number(value):
    """Whether `value` is a JSON number other than NaN and the infinities (not a string, not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_step(value):
    """Whether `value` is a global step: an integer from 0 (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_name(value):
    """Whether `value` is a non-empty string."""
    return isinstance(value, str) and value != ''


ENTRY_KEYS = (('value', is_real_number, 'a finite number'), ('global_step', is_step, 'a step number'),
              ('checkpoint', is_name, 'a checkpoint path'))
RECORD_KEYS = (('metric', is_name, 'a metric name'), ('mode', MODES.__contains__, 'min or max'))


def mapping_problem(mapping, keys, name):
    """Returns what is wrong with `mapping` (called `name`) given [(key, check, expected)], or None."""
    if not isinstance(mapping, dict):
        return '%s must be a mapping, got %s' % (name, json.dumps(mapping))
    for key, check, expected in keys:
        if key not in mapping:
            return '%s lacks %s' % (name, key)
        if not check(mapping[key]):
            return '%s %s must be %s, got %s' % (name, key, expected, json.dumps(mapping[key]))
    return None


def record_problem(record, best_dir):
    """Returns what is wrong with the best.json `record` of `best_dir`, or None."""
    problem = mapping_problem(record, RECORD_KEYS + ENTRY_KEYS, 'the record')
    if problem:
        return problem
    if not isinstance(record.get('model_dir', ''), str):
        return 'the record model_dir must be a path, got %s' % json.dumps(record['model_dir'])
    snapshots = record.get('snapshots', [])
    if not isinstance(snapshots, list):
        return 'the record snapshots must be a list, got %s' % json.dumps(snapshots)
    for index, entry in enumerate(snapshots):
        problem = mapping_problem(entry, ENTRY_KEYS, 'snapshots[%d]' % index)
        if problem:
            return problem
    index_file = join(best_dir, record['checkpoint']) + '.index'
    if not tf.io.gfile.exists(index_file):
        return 'the record checkpoint %s does not exist (no %s)' % (
            json.dumps(record['checkpoint']), index_file)
    return None


def normalized(path):
    """Returns `path` absolute and normalized (a remote one keeps its scheme://)."""
    if '://' not in path:
        return os.path.abspath(path)
    scheme, rest = path.split('://', 1)
    return '%s://%s' % (scheme, posixpath.normpath('/' + rest)[1:])


def recorded_model_dir(best_dir, model_dir):
    """Returns model_dir as best.json records it: relative to best_dir when best_dir lies inside
    it (so the two can be moved together), else absolute."""
    best, model = normalized(best_dir), normalized(model_dir)
    if best.startswith(model.rstrip('/') + '/'):
        return posixpath.relpath(model, best)
    return model


def owner(best_dir, record):
    """Returns the normalized model_dir that `record` of `best_dir` belongs to, or None (older records)."""
    recorded = record.get('model_dir')
    if not recorded:
        return None
    if '://' in recorded or recorded.startswith('/'):
        return normalized(recorded)
    return normalized(join(best_dir, recorded))


def check_owner(best_dir, record, model_dir):
    """Raises ConfigError when `record` of `best_dir` belongs to a model_dir other than `model_dir`."""
    recorded = owner(best_dir, record)
    if recorded is not None and recorded != normalized(model_dir):
        raise ConfigError('%s belongs to model_dir %s, not to this run\'s model_dir %s; give this '
                          'run its own best_model_dir' % (join(best_dir, BEST_JSON), recorded,
                                                          normalized(model_dir)))


def best_checkpoint(best_dir, model_dir=None):
    """Returns (checkpoint prefix, record) of the best snapshot; ConfigError when there is none
    or when it belongs to a model_dir other than `model_dir` (when given)."""
    record = read_record(best_dir)
    if record is None:
        raise ConfigError('--checkpoint best: no %s in best_model_dir %s; train with '
                          '--mode train_and_evaluate first' % (BEST_JSON, best_dir))
    if model_dir is not None:
        check_owner(best_dir, record, model_dir)
    return join(best_dir, record['checkpoint']), record


def checkpoint_files(checkpoint):
    """Returns the files of checkpoint prefix `checkpoint`; raises if it is incomplete."""
    files = sorted(tf.io.gfile.glob(checkpoint + '.*'))
    names = [posixpath.basename(name) for name in files]
    if not any(name.endswith('.index') for name in names) or not any(
            '.data-' in name for name in names):
        raise FileNotFoundError('checkpoint %s is incomplete: found %s' % (
            checkpoint, ', '.join(names) or 'no files'))
    return files


def is_finite_number(value):
    """Whether `value` is a number other than NaN and the infinities."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


class BestSnapshot:
    """Keeps the `keep_max` best checkpoints of metric `metric` (mode min or max) in `best_dir`."""

    def __init__(self, best_dir, metric, mode, keep_max=1, model_dir=None):
        if mode not in MODES:
            raise ConfigError('best_mode must be min or max, got %r' % (mode,))
        if keep_max < 1:
            raise ConfigError('keep_best_max must be at least 1, got %r' % (keep_max,))
        self.best_dir = best_dir
        self.metric = metric
        self.mode = mode
        self.keep_max = keep_max
        self.model_dir = model_dir
        tf.io.gfile.makedirs(best_dir)
        self.remove_temporary_leftovers()
        self.record = read_record(best_dir)
        if self.record and model_dir is not None:
            check_owner(best_dir, self.record, model_dir)
        if self.record and (self.record['metric'], self.record['mode']) != (metric, mode):
            raise ConfigError(
                '%s records the best %s (%s) but the config asks for best_metric %s, best_mode %s; '
                'use another best_model_dir or move that one away' % (
                    join(best_dir, BEST_JSON), self.record['metric'], self.record['mode'],
                    metric, mode))

    @property
    def best_value(self):
        return None if self.record is None else self.record['value']

    def remove_temporary_leftovers(self):
        """Deletes temporary files and folders left by a copy that was killed."""
        for name in tf.io.gfile.listdir(self.best_dir):
            name = name.rstrip('/')
            if files.TEMPORARY_PREFIX in name:
                files.remove(join(self.best_dir, name))

    def is_improvement(self, value):
        """Whether `value` beats the recorded best; NaN and infinities never do."""
        if not is_finite_number(value):
            return False
        if self.record is None:
            return True
        if self.mode == 'min':
            return float(value) < self.record['value']
        return float(value) > self.record['value']

    def update(self, metrics, checkpoint):
        """Snapshots `checkpoint` when metrics[metric] improved; returns whether it did.

        Raises ConfigError when the evaluation did not produce the monitored metric.
        """
        if self.metric not in metrics:
            raise ConfigError('best_metric %r is not produced by the evaluation; metrics: %s' % (
                self.metric, ', '.join(sorted(metrics))))
        value = metrics[self.metric]
        global_step = int(metrics.get('global_step', -1))
        if not self.is_improvement(value):
            return False
        folder = self.copy_checkpoint(checkpoint, global_step)
        entry = {
            'value': float(value),
            'global_step': global_step,
            'checkpoint': posixpath.join(folder, posixpath.basename(checkpoint)),
            'time': utc_now(),
        }
        previous = list(self.record['snapshots']) if self.record else []
        kept = ([entry] + previous)[:self.keep_max]
        record = {'metric': self.metric, 'mode': self.mode}
        if self.model_dir is not None:
            record['model_dir'] = recorded_model_dir(self.best_dir, self.model_dir)
        record.update(entry)
        record['snapshots'] = kept
        files.write_atomically(join(self.best_dir, BEST_JSON), json.dumps(record, indent=2) + '\n')
        self.record = record
        for dropped in previous[self.keep_max - 1:]:
            self.remove_snapshot(dropped)
        return True

    def remove_snapshot(self, entry):
        """Deletes the folder of a snapshot this module made (named in best.json)."""
        folder = posixpath.dirname(entry['checkpoint'])
        if folder.startswith(SNAPSHOT_PREFIX) and '/' not in folder:
            path = join(self.best_dir, folder)
            if tf.io.gfile.exists(path):
                tf.io.gfile.rmtree(path)

    def unused_folder_name(self, global_step):
        """Returns step-<N>, or step-<N>.<k> when a killed earlier copy left that name behind."""
        name = '%s%d' % (SNAPSHOT_PREFIX, global_step)
        suffix = 0
        while tf.io.gfile.exists(join(self.best_dir, name)):
            suffix += 1
            name = '%s%d.%d' % (SNAPSHOT_PREFIX, global_step, suffix)
        return name

    def copy_checkpoint(self, checkpoint, global_step):
        """Copies the files of `checkpoint` into a new snapshot folder; returns its name."""
        sources = checkpoint_files(checkpoint)
        name = self.unused_folder_name(global_step)
        temporary = files.temporary_sibling(join(self.best_dir, name))
        tf.io.gfile.makedirs(temporary)
        for source in sources:
            tf.io.gfile.copy(source, join(temporary, posixpath.basename(source)), overwrite=True)
        prefix = posixpath.basename(checkpoint)
        with tf.io.gfile.GFile(join(temporary, 'checkpoint'), 'w') as stream:
            stream.write('model_checkpoint_path: "%s"\nall_model_checkpoint_paths: "%s"\n' % (
                prefix, prefix))
        files.move_folder(temporary, join(self.best_dir, name))
        return name

    def describe(self):
        """Returns a one-line description of the recorded best snapshot."""
        if self.record is None:
            return 'no best snapshot yet in %s' % self.best_dir
        return 'best %s %.6g at step %d: %s' % (
            self.metric, self.record['value'], self.record['global_step'],
            join(self.best_dir, self.record['checkpoint']))
