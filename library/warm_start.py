"""warm_start_from / warm_start_vars: initialise a new run's variables from another run's checkpoint.

The regular expression picks model variables by checkpoint name, matched from the
start (`cnn/features/` takes every layer before the classifier, so a classifier
can be fine-tuned on a new class set). Weights and batch-norm statistics are
warm-started; the global step and optimizer state (Adam moments, momentum
accumulators) never are, so the new run starts at step 0 with a fresh optimizer.
"""
import re

import tensorflow as tf

from library.config import ConfigError

OPTIMIZER_ACCUMULATORS = ('beta1_power', 'beta2_power')  # tf.compat.v1.train.AdamOptimizer's non-slot state
SHOWN_NAMES = 20


def source_checkpoint(source):
    """Returns the checkpoint prefix of warm_start_from: a checkpoint prefix or a folder holding checkpoints.

    The prefix is tried first: on ram:// every string prefix of a file name counts as a folder.
    """
    if tf.io.gfile.exists(source + '.index'):
        return source
    if tf.io.gfile.isdir(source):
        checkpoint = tf.train.latest_checkpoint(source)
        if checkpoint is None:
            raise ConfigError('warm_start_from: folder %s holds no checkpoint (expected a model_dir '
                              'or a checkpoint prefix such as model_dir/model.ckpt-1000)' % source)
        return checkpoint
    raise ConfigError('warm_start_from: %s not found (expected a model_dir or a checkpoint prefix '
                      'with a .index file, such as model_dir/model.ckpt-1000)' % source)


def model_variable_names(checkpoint):
    """Returns the checkpoint's variable names without the global step and optimizer state."""
    names = sorted(tf.compat.v1.train.NewCheckpointReader(checkpoint).get_variable_to_shape_map())
    stored = set(names)
    return [name for name in names
            if name != tf.compat.v1.GraphKeys.GLOBAL_STEP
            and name.rsplit('/', 1)[-1] not in OPTIMIZER_ACCUMULATORS
            and name.rsplit('/', 1)[0] not in stored]


def chosen_variables(checkpoint, regex):
    """Returns the model variable names of `checkpoint` that `regex` matches from the start."""
    try:
        pattern = re.compile(regex)
    except re.error as error:
        raise ConfigError('warm_start_vars: %r is not a valid regular expression (%s)' % (regex, error)) from None
    names = model_variable_names(checkpoint)
    chosen = [name for name in names if pattern.match(name)]
    if not chosen:
        raise ConfigError('warm_start_vars: %r matches no model variable of %s; its variables: %s' % (
            regex, checkpoint, ', '.join(names[:SHOWN_NAMES]) + (' ...' if len(names) > SHOWN_NAMES else '')))
    return chosen


def warm_start_settings(config):
    """Returns tf.estimator.WarmStartSettings for warm_start_from and warm_start_vars, or None when unset."""
    if not config['warm_start_from']:
        return None
    checkpoint = source_checkpoint(config['warm_start_from'])
    names = chosen_variables(checkpoint, config['warm_start_vars'])
    return tf.estimator.WarmStartSettings(
        ckpt_to_initialize_from=checkpoint,
        vars_to_warm_start=[r'%s(/part_\d+)?:0$' % re.escape(name) for name in names])
