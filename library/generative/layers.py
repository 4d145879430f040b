"""Layers the generative models' networks are built from: normalisation and label encoding.

They create their variables with tf.compat.v1.get_variable under the caller's
variable scope, so a network built inside one named scope (AUTO_REUSE) shares
its weights between calls.
"""
import tensorflow as tf

NORMALIZATIONS = ('batch', 'layer', 'none')
# Batch norm's moving averages serve sample grids, evaluation and export (training uses batch
# statistics); 0.9 follows a generator started from N(0, 0.02) within tens of steps, where the
# default 0.99 leaves its grids flat grey far longer.
BATCH_NORM_MOMENTUM = 0.9


def label_one_hot(labels, params):
    """Returns one-hot float labels [batch, num_classes]; label -1 gives all zeros."""
    return tf.one_hot(tf.cast(labels, tf.int32), params['num_classes'], dtype=tf.float32)


def layer_norm(inputs, name):
    """Layer normalization over height, width and channels of each example."""
    with tf.compat.v1.variable_scope(name):
        channels = inputs.shape[-1]
        gamma = tf.compat.v1.get_variable('gamma', [channels], initializer=tf.ones_initializer())
        beta = tf.compat.v1.get_variable('beta', [channels], initializer=tf.zeros_initializer())
        mean, variance = tf.nn.moments(inputs, axes=[1, 2, 3], keepdims=True)
        return (inputs - mean) * tf.math.rsqrt(variance + 1e-5) * gamma + beta


def normalize(inputs, normalization, training, name):
    """Applies batch norm, layer norm or nothing (`normalization` in NORMALIZATIONS)."""
    if normalization == 'batch':
        return tf.compat.v1.layers.batch_normalization(
            inputs, momentum=BATCH_NORM_MOMENTUM, training=training, name=name)
    if normalization == 'layer':
        return layer_norm(inputs, name)
    if normalization == 'none':
        return inputs
    raise ValueError('normalization must be one of %s, got %r' % (NORMALIZATIONS, normalization))
