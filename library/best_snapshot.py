"""Best-validation snapshots: copy the checkpoint with the best metric into best_model_dir.

Layout of best_model_dir:
    best.json            the record of the best snapshot (metric, mode, value, global_step,
                         checkpoint, time) plus `snapshots`, the kept ones best first
    step-<N>/            one copied checkpoint (model.ckpt-<N>.* and a `checkpoint` state file)

Every snapshot is first copied into a temporary folder, moved into place, and only then
named in best.json, which is itself written to a temporary file and renamed. A kill at any
moment therefore leaves best.json describing a complete snapshot; leftover temporary
folders are removed when the next run starts and are never read. The snapshot's
`checkpoint` in best.json is relative to best_model_dir, so the folder can be moved.
Only folders this module created and listed in best.json are ever deleted.
"""
import datetime
import json
import math
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
    """Returns the parsed best.json of `best_dir`, or None when there is none."""
    path = join(best_dir, BEST_JSON)
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path) as stream:
            record = json.load(stream)
    except (ValueError, tf.errors.OpError) as error:
        raise ConfigError('%s: cannot read the best-snapshot record (%s)' % (path, error)) from None
    missing = [key for key in ('metric', 'mode', 'value', 'global_step', 'checkpoint')
               if key not in record]
    if missing:
        raise ConfigError('%s: best-snapshot record lacks %s' % (path, ', '.join(missing)))
    return record


def best_checkpoint(best_dir):
    """Returns (checkpoint prefix, record) of the best snapshot; ConfigError when there is none."""
    record = read_record(best_dir)
    if record is None:
        raise ConfigError('--checkpoint best: no %s in best_model_dir %s; train with '
                          '--mode train_and_evaluate first' % (BEST_JSON, best_dir))
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

    def __init__(self, best_dir, metric, mode, keep_max=1):
        if mode not in MODES:
            raise ConfigError('best_mode must be min or max, got %r' % (mode,))
        if keep_max < 1:
            raise ConfigError('keep_best_max must be at least 1, got %r' % (keep_max,))
        self.best_dir = best_dir
        self.metric = metric
        self.mode = mode
        self.keep_max = keep_max
        tf.io.gfile.makedirs(best_dir)
        self.remove_temporary_leftovers()
        self.record = read_record(best_dir)
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
