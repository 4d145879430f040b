"""Whether a model_dir's checkpoint fits the graph of this config, said in one line instead of a traceback.

TensorFlow restores a checkpoint variable of another shape without complaint (resource
variables take the shape of the assigned value), so a resume with accepted config changes
compares the shapes first; a variable missing from the checkpoint fails the restore with a
long NotFoundError, which becomes one line here.
"""
import contextlib

import tensorflow as tf

from library import checkpoints, run_identity
from library import config as config_lib

RESTORE_FAILED = 'Restoring from checkpoint failed'


def model_spec_in_graph(recipe, params, mode):
    """Builds the model for `mode` in the current graph and returns its EstimatorSpec (never run).

    EVAL reads its features from the evaluation input; PREDICT takes a placeholder batch,
    so it needs no data.
    """
    if mode == tf.estimator.ModeKeys.PREDICT:
        size = params['image_size']
        features = {'image': tf.compat.v1.placeholder(tf.float32, [None, size, size, params['channels']])}
        return recipe.model_fn(features, None, mode, params)
    dataset = recipe.input_fn(mode, params)
    features, labels = tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()
    return recipe.model_fn(features, labels, mode, params)


def graph_variables(recipe, params, mode=tf.estimator.ModeKeys.EVAL):
    """Returns {name: shape} of the variables the model creates for `mode` (in a throwaway graph)."""
    with tf.Graph().as_default():
        model_spec_in_graph(recipe, params, mode)
        return {variable.op.name: variable.shape.as_list()
                for variable in tf.compat.v1.global_variables()}


def saved_shapes(checkpoint):
    """Returns {name: shape} of the variables in `checkpoint`; ConfigError when it cannot be read."""
    try:
        # Not tf.train.list_variables: on ram:// it takes a checkpoint prefix for a folder.
        return tf.compat.v1.train.NewCheckpointReader(checkpoint).get_variable_to_shape_map()
    except tf.errors.OpError as error:
        raise config_lib.ConfigError('checkpoint %s cannot be read (%s)' % (
            checkpoint, error.message.splitlines()[0])) from None


def mismatches(checkpoint, variables):
    """Returns 'name: shape in the checkpoint, shape now' for each of `variables` the checkpoint holds otherwise."""
    saved = saved_shapes(checkpoint)
    found = []
    for name, shape in sorted(variables.items()):
        if name not in saved:
            found.append('%s: not in the checkpoint' % name)
        elif list(saved[name]) != shape:
            found.append('%s: shape %s in the checkpoint, %s now' % (name, list(saved[name]), shape))
    return found


def describe_failure(model_dir, detail):
    """Returns the one line saying that model_dir's latest checkpoint does not fit this config's graph."""
    return ('the checkpoint %s cannot be restored into the graph of this config (%s); resume it '
            'with the config it was trained with (%s), or train in another model_dir' % (
                checkpoints.state_checkpoint(model_dir), detail, run_identity.saved_config_path(model_dir)))


def check(recipe, params):
    """Raises ConfigError when model_dir's latest checkpoint does not fit the EVAL graph of `params`."""
    found = mismatches(checkpoints.usable_checkpoint(params['model_dir']), graph_variables(recipe, params))
    if found:
        more = ' and %d more' % (len(found) - 1) if len(found) > 1 else ''
        raise config_lib.ConfigError(describe_failure(params['model_dir'], found[0] + more))


def restore_detail(text):
    """Returns the line of a restore error that names the variable (missing key or shape mismatch)."""
    lines = [line for line in text.split('Original error:', 1)[-1].splitlines()
             if line.strip() and not line.startswith((' ', '\t', 'Node:', 'Graph execution error',
                                                      'Detected at node'))]
    return (lines[-1] if lines else text.splitlines()[0]).rstrip('.')


@contextlib.contextmanager
def restore_failures_reported(model_dir, forget_config=False):
    """Turns a failure to restore model_dir's checkpoint into a one-line ConfigError.

    With `forget_config`, the config-step-N.yaml this start wrote is deleted, since it made no checkpoint.
    """
    try:
        yield
    except tf.errors.OpError as error:
        text = getattr(error, 'message', '')
        if RESTORE_FAILED not in text:
            raise
        if forget_config:
            run_identity.forget_step_config(model_dir)
        raise config_lib.ConfigError(describe_failure(model_dir, restore_detail(text))) from None
