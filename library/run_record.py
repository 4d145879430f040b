"""The record of every evaluation: `<model_dir>/metrics.jsonl`, one JSON object per line.

Each line holds `global_step`, `time` (UTC, ISO 8601), every scalar metric as a float
(null for NaN and the infinities, which JSON lacks) and `best`: whether the evaluated
checkpoint became the best snapshot. The file is rewritten through a temporary file, so a
kill never leaves half a line. The first evaluation of a run also writes its TensorBoard
HParams entry; every improvement the best value so far (library/hparams_summary.py).
"""
import json
import math

import tensorflow as tf

from library import best_snapshot, files, hparams_summary

METRICS_FILE = 'metrics.jsonl'


def as_number(value):
    """Returns a scalar metric as a float, None when it is not finite."""
    number = float(value)
    return number if math.isfinite(number) else None


def evaluation_line(metrics, best):
    """Returns the JSON line (with its newline) for one evaluation."""
    record = {'global_step': int(metrics['global_step']), 'time': best_snapshot.utc_now()}
    for name in sorted(metrics):
        if name != 'global_step' and getattr(metrics[name], 'size', 1) == 1:
            record[name] = as_number(metrics[name])
    record['best'] = bool(best)
    return json.dumps(record, sort_keys=False) + '\n'


def read_text(path):
    if not tf.io.gfile.exists(path):
        return ''
    with tf.io.gfile.GFile(path) as stream:
        return stream.read()


def read_evaluations(model_dir):
    """Returns the records of metrics.jsonl in `model_dir`, oldest first ([] when there is none)."""
    return [json.loads(line) for line in read_text(files.join(model_dir, METRICS_FILE)).splitlines()
            if line.strip()]


def record_evaluation(params, metrics, best):
    """Appends this evaluation to metrics.jsonl and updates the TensorBoard HParams entry."""
    path = files.join(params['model_dir'], METRICS_FILE)
    earlier = read_text(path)
    files.write_atomically(path, earlier + evaluation_line(metrics, best))
    if not earlier:
        hparams_summary.write_run(params)
    if best:
        hparams_summary.write_best(params, metrics[params['best_metric']], int(metrics['global_step']))
