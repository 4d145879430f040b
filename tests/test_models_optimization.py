"""library/optimization.py: learning-rate schedules, warmup, optimizers, clipping."""
import numpy as np
import pytest
import tensorflow as tf

from library import optimization
from library.config import ConfigError

BASE = {'learning_rate': 0.1, 'lr_schedule': 'constant', 'lr_decay_steps': [], 'lr_decay_rate': 0.1,
        'warmup_steps': 0, 'optimizer': 'adam', 'adam_beta1': 0.9, 'adam_beta2': 0.999,
        'adam_epsilon': 1e-8, 'momentum': 0.9, 'gradient_clip_norm': 0.0}


def rates(steps, **overrides):
    """Returns the learning rate at each of `steps` for BASE with `overrides`."""
    params = dict(BASE, **overrides)
    graph = tf.Graph()
    with graph.as_default():
        step = tf.compat.v1.placeholder(tf.int64, [])
        rate = optimization.learning_rate(params, global_step=step)
        with tf.compat.v1.Session() as session:
            return [float(session.run(rate, {step: value})) for value in steps]


def test_constant_and_step_schedules():
    assert rates([0, 1000]) == pytest.approx([0.1, 0.1])
    assert rates([0, 99, 100, 250, 300], lr_schedule='step', lr_decay_steps=[100, 300]) == (
        pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001]))


def test_cosine_decays_to_zero_after_warmup():
    values = rates([0, 4, 10, 55, 100, 150], lr_schedule='cosine', warmup_steps=10,
                   total_train_steps=100)
    assert values == pytest.approx([0.01, 0.05, 0.1, 0.05, 0.0, 0.0], abs=1e-6)


def test_cosine_needs_the_total_steps():
    with pytest.raises(ConfigError, match='total number of training steps'):
        rates([0], lr_schedule='cosine')


@pytest.mark.parametrize('key,value,choices', [('lr_schedule', 'linear', 'constant, cosine, step'),
                                               ('optimizer', 'lion', 'adagrad, adam, momentum')])
def test_unknown_choices_are_config_errors(key, value, choices):
    with pytest.raises(ConfigError, match=choices):
        params = dict(BASE, **{key: value})
        with tf.Graph().as_default():
            optimization.make_optimizer(params, optimization.learning_rate(params))


def train_steps(params, steps=3, increment_global_step=True):
    """Minimizes (w - 10)^2 from w = 0; returns (w, global step, gradient norm of step 1)."""
    graph = tf.Graph()
    with graph.as_default():
        global_step = tf.compat.v1.train.get_or_create_global_step()
        weight = tf.compat.v1.get_variable('w', initializer=0.0)
        loss = tf.square(weight - 10.0)
        optimizer = optimization.make_optimizer(params, params['learning_rate'])
        train_op = optimization.minimize(loss, [weight], optimizer, params,
                                         increment_global_step=increment_global_step)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            for _ in range(steps):
                session.run(train_op)
            return session.run([weight, global_step])


@pytest.mark.parametrize('name', sorted(optimization.OPTIMIZERS))
def test_every_optimizer_moves_towards_the_minimum(name):
    weight, step = train_steps(dict(BASE, optimizer=name))
    assert 0.0 < weight < 10.0
    assert step == 3


def test_gradient_clipping_bounds_the_update():
    weight, _ = train_steps(dict(BASE, optimizer='sgd', gradient_clip_norm=1.0), steps=1)
    assert weight == pytest.approx(0.1)
    weight, _ = train_steps(dict(BASE, optimizer='sgd'), steps=1)
    assert weight == pytest.approx(2.0)


def test_global_step_increment_is_optional():
    _, step = train_steps(dict(BASE, optimizer='sgd'), increment_global_step=False)
    assert step == 0


def test_diverged_loss_never_updates_the_weights():
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.train.get_or_create_global_step()
        weight = tf.compat.v1.get_variable('w', initializer=1.0)
        loss = weight * np.float32(np.nan)
        train_op = optimization.minimize(
            loss, [weight], optimization.make_optimizer(dict(BASE, optimizer='sgd'), 0.1), BASE)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            with pytest.raises(tf.errors.InvalidArgumentError,
                               match='Model diverged with loss = NaN at step 0'):
                session.run(train_op)
            assert session.run(weight) == 1.0
