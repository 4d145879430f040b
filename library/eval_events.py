"""Which checkpoints have a finished evaluation: the metric summaries in an evaluation's event files.

Estimator writes an evaluation's metrics (tagged with the checkpoint's global step) into
model_dir/eval only when the evaluation has finished, so a step found here was evaluated
and a step missing here was not (or was cut off).
"""
import tensorflow as tf

from library import files


def event_steps(path):
    """Returns the global steps of the summaries in event file `path` (up to a cut-off last record)."""
    steps = set()
    try:
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            if event.summary.value:
                steps.add(event.step)
    except tf.errors.DataLossError:
        pass  # the last record of a file whose write was cut off
    return steps


def evaluated_steps(eval_dir):
    """Returns the global steps whose evaluation finished, from the event files in `eval_dir`."""
    steps = set()
    for path in tf.io.gfile.glob(files.join(eval_dir, 'events.out.tfevents.*')):
        steps |= event_steps(path)
    return steps
