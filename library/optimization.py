"""Optimizers, learning-rate schedules and train ops built from the hyperparameters.

Shared by the classifiers and the generative models: every function takes the
hyperparameter dict and accepts overrides, so a model with two optimizers
(a GAN) builds both from here.
"""
import math

import tensorflow as tf

from library.config import ConfigError


def _constant(params, step, base_rate, total_steps):
    return tf.constant(base_rate, tf.float32)


def _step_decay(params, step, base_rate, total_steps):
    boundaries = [int(boundary) for boundary in params['lr_decay_steps']]
    if boundaries != sorted(boundaries) or any(boundary <= 0 for boundary in boundaries):
        raise ConfigError('hyperparameter lr_decay_steps must be increasing positive steps, got %r'
                          % (params['lr_decay_steps'],))
    if not boundaries:
        return tf.constant(base_rate, tf.float32)
    rates = [base_rate * params['lr_decay_rate'] ** index for index in range(len(boundaries) + 1)]
    last_steps_before_decay = [boundary - 1 for boundary in boundaries]
    return tf.compat.v1.train.piecewise_constant(
        tf.cast(step, tf.int64), last_steps_before_decay, rates)


def _cosine_decay(params, step, base_rate, total_steps):
    if not total_steps:
        raise ConfigError('hyperparameter lr_schedule cosine needs the total number of training '
                          'steps; set train_epochs with a dataset of known size or max_train_steps')
    warmup = params['warmup_steps']
    decay_steps = max(total_steps - warmup, 1)
    progress = tf.clip_by_value(tf.cast(step - warmup, tf.float32) / decay_steps, 0.0, 1.0)
    return base_rate * 0.5 * (1.0 + tf.cos(math.pi * progress))


SCHEDULES = {'constant': _constant, 'step': _step_decay, 'cosine': _cosine_decay}


def learning_rate(params, global_step=None, base_rate=None, total_steps=None):
    """Returns the learning-rate tensor at `global_step`: warmup, then the lr_schedule.

    `base_rate` overrides params['learning_rate']; `total_steps` overrides
    params['total_train_steps'] (which the training code fills in when known).
    """
    schedule = params['lr_schedule']
    if schedule not in SCHEDULES:
        raise ConfigError('hyperparameter lr_schedule must be one of %s, got %r' % (
            ', '.join(sorted(SCHEDULES)), schedule))
    step = tf.compat.v1.train.get_or_create_global_step() if global_step is None else global_step
    base_rate = float(params['learning_rate'] if base_rate is None else base_rate)
    total_steps = params.get('total_train_steps') if total_steps is None else total_steps
    rate = SCHEDULES[schedule](params, step, base_rate, total_steps)
    warmup = params['warmup_steps']
    if warmup > 0:
        step_float = tf.cast(step, tf.float32)
        rate = tf.where(step_float < warmup, base_rate * (step_float + 1.0) / warmup, rate)
    return tf.identity(rate, name='learning_rate')


def _adam(params, rate, overrides):
    return tf.compat.v1.train.AdamOptimizer(
        rate, beta1=overrides.get('beta1', params['adam_beta1']),
        beta2=overrides.get('beta2', params['adam_beta2']),
        epsilon=overrides.get('epsilon', params['adam_epsilon']))


def _sgd(params, rate, overrides):
    return tf.compat.v1.train.GradientDescentOptimizer(rate)


def _momentum(params, rate, overrides):
    return tf.compat.v1.train.MomentumOptimizer(
        rate, momentum=overrides.get('momentum', params['momentum']))


def _rmsprop(params, rate, overrides):
    return tf.compat.v1.train.RMSPropOptimizer(
        rate, momentum=overrides.get('momentum', params['momentum']),
        epsilon=overrides.get('epsilon', 1e-10))


def _adagrad(params, rate, overrides):
    return tf.compat.v1.train.AdagradOptimizer(rate)


OPTIMIZERS = {'adam': _adam, 'sgd': _sgd, 'momentum': _momentum, 'rmsprop': _rmsprop,
              'adagrad': _adagrad}


def make_optimizer(params, learning_rate, optimizer=None, **overrides):
    """Returns the tf.compat.v1 optimizer named params['optimizer'] (or `optimizer`).

    Keyword overrides: beta1, beta2, epsilon (adam), momentum (momentum, rmsprop).
    """
    name = params['optimizer'] if optimizer is None else optimizer
    if name not in OPTIMIZERS:
        raise ConfigError('hyperparameter optimizer must be one of %s, got %r' % (
            ', '.join(sorted(OPTIMIZERS)), name))
    return OPTIMIZERS[name](params, learning_rate, overrides)


def finite_loss_check(loss):
    """Returns an op failing with 'Model diverged with loss = NaN at step N' unless `loss` is finite.

    The train op depends on it, so a diverged step never updates the weights.
    """
    step = tf.compat.v1.train.get_or_create_global_step()
    value = tf.where(tf.math.is_nan(loss), 'NaN', tf.strings.as_string(loss))
    message = tf.strings.join(['Model diverged with loss = ', value, ' at step ',
                               tf.strings.as_string(step)])
    return tf.debugging.Assert(tf.math.is_finite(loss), [message], name='finite_loss_check')


def minimize(loss, var_list, optimizer, params, update_ops=(), increment_global_step=True):
    """Returns the train op: gradients of `loss` over `var_list`, clipped to
    gradient_clip_norm, applied after `update_ops` (batch-norm statistics) once
    the loss is known to be finite."""
    if not var_list:
        raise ValueError('nothing to train: the model has no trainable variables')
    # A v1 optimizer sums the replicas' gradients, so each replica takes its share of the loss.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    gradients = tf.gradients(loss / replicas, var_list)
    clip_norm = params['gradient_clip_norm']
    if clip_norm > 0:
        gradients, _ = tf.clip_by_global_norm(gradients, clip_norm)
    global_step = tf.compat.v1.train.get_or_create_global_step() if increment_global_step else None
    with tf.control_dependencies([finite_loss_check(loss)] + list(update_ops)):
        return optimizer.apply_gradients(
            [(gradient, variable) for gradient, variable in zip(gradients, var_list)
             if gradient is not None], global_step=global_step)
