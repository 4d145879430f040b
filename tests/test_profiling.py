"""profile_steps writes a profiler trace that TensorBoard's Profile tab reads."""
import glob
import os

import pytest
import tensorflow as tf

from library.config import ConfigError
from library.profiling import profiler_hooks


def linear_model_fn(features, labels, mode):
    weight = tf.compat.v1.get_variable('w', [1], initializer=tf.zeros_initializer())
    loss = tf.reduce_mean(tf.square(features * weight - labels))
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def train(model_dir, profile_steps):
    config = {'model_dir': model_dir, 'profile_steps': profile_steps}
    estimator = tf.estimator.Estimator(linear_model_fn, model_dir=model_dir)
    estimator.train(lambda: tf.data.Dataset.from_tensors((1.0, 2.0)).repeat(), steps=6,
                    hooks=profiler_hooks(config))


def test_trace_is_written_for_the_profiled_steps(tmp_path):
    train(str(tmp_path), [2, 4])
    traces = glob.glob(os.path.join(str(tmp_path), 'plugins', 'profile', '*', '*.xplane.pb'))
    assert traces, os.listdir(str(tmp_path))


def test_no_profile_steps_means_no_hook_and_no_trace(tmp_path):
    assert profiler_hooks({'model_dir': str(tmp_path), 'profile_steps': []}) == []
    train(str(tmp_path), [])
    assert not os.path.exists(os.path.join(str(tmp_path), 'plugins', 'profile'))


@pytest.mark.parametrize('steps', [[5], [4, 2], [-1, 3], ['a', 'b']])
def test_bad_profile_steps_are_refused(steps):
    with pytest.raises(ConfigError, match='profile_steps'):
        profiler_hooks({'model_dir': 'x', 'profile_steps': steps})
