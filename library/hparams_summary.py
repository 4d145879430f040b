"""TensorBoard HParams entries: each run's hyperparameters next to its best metric.

Written with the Estimator's own summary writers (tf.compat.v1.summary.FileWriterCache),
so no event file is added: the HParams session and experiment go to model_dir, the best
value so far (`best/<metric>`) to model_dir/eval next to the evaluation metrics.
"""
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from library import config as config_lib
from library import files, run_identity

EVAL_GROUP = 'eval'


def hparam_value(value):
    """Returns `value` as HParams takes it: bool, number or string (lists and null as YAML text)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return config_lib.yaml_scalar(value)


def run_hparams(params):
    """Returns {key: value} of the keys that define the run (library/run_identity.py's IDENTITY_KEYS)."""
    return {key: hparam_value(params[key]) for key in sorted(run_identity.IDENTITY_KEYS) if key in params}


def best_tag(metric):
    return 'best/%s' % metric


def metrics_shown(params):
    """Returns the hp.Metric columns: the evaluation loss, best_metric and its best value so far."""
    shown = [hp.Metric('loss', group=EVAL_GROUP, display_name='eval loss')]
    metric = params.get('best_metric')
    if metric and metric != 'loss':
        shown.append(hp.Metric(metric, group=EVAL_GROUP, display_name='eval %s' % metric))
    if metric:
        shown.append(hp.Metric(best_tag(metric), group=EVAL_GROUP, display_name='best %s' % metric))
    return shown


def write(folder, summaries, step=0):
    """Adds the Summary protos `summaries` to the Estimator's event file in `folder`.

    Serialized first: the HParams protos are TensorBoard's classes, not TensorFlow's.
    """
    with tf.Graph().as_default():
        writer = tf.compat.v1.summary.FileWriterCache.get(folder)
        for summary in summaries:
            writer.add_summary(summary.SerializeToString(), step)
        writer.flush()


def write_run(params):
    """Writes the HParams experiment and this run's session (its hyperparameters) into model_dir."""
    values = run_hparams(params)
    config = hp.hparams_config_pb(hparams=[hp.HParam(key) for key in values],
                                  metrics=metrics_shown(params))
    write(params['model_dir'], [config, hp.hparams_pb(values)])


def write_best(params, value, step):
    """Writes the best value of best_metric so far at global step `step` (model_dir/eval, `best/<metric>`)."""
    summary = tf.compat.v1.Summary(value=[tf.compat.v1.Summary.Value(
        tag=best_tag(params['best_metric']), simple_value=float(value))])
    write(files.join(params['model_dir'], EVAL_GROUP), [summary], step)
