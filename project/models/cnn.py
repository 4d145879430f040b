"""cnn: a small conv net for quick starts (the demo trains it on a CPU in minutes).

Blocks of conv 3x3 + batch norm + ReLU + max pool, one per entry of the
`cnn_filters` hyperparameter, then global max pooling: a feature answers
"is this pattern anywhere in the image", which learns shapes at random
positions much faster than average pooling.
"""
import tensorflow as tf

from library import classifier_head
from library.config import ConfigError
from library.recipe import ModelSpec


class SmallConvNet(tf.keras.layers.Layer):
    """Conv-BN-ReLU-pool blocks and global max pooling."""

    def __init__(self, params):
        super().__init__(name='features')
        filters = params['cnn_filters']
        if not filters or not all(isinstance(count, int) and count > 0 for count in filters):
            raise ConfigError('hyperparameter cnn_filters must be a list of positive integers, '
                              'got %r' % (filters,))
        momentum = params['batch_norm_momentum']
        self.blocks = [
            (tf.keras.layers.Conv2D(count, 3, padding='same', use_bias=False,
                                    name='conv%d' % index),
             tf.keras.layers.BatchNormalization(momentum=momentum, name='bn%d' % index))
            for index, count in enumerate(filters, 1)]
        self.pool = tf.keras.layers.MaxPool2D(2, name='pool')

    def call(self, images, training=False):
        net = images
        for conv, batch_norm in self.blocks:
            net = self.pool(tf.nn.relu(batch_norm(conv(net), training=training)))
        return tf.reduce_max(net, axis=[1, 2])


def build_network(params):
    """Returns the cnn ClassifierNetwork for `params`."""
    return classifier_head.ClassifierNetwork(SmallConvNet(params), params, name='cnn')


def model_fn(features, labels, mode, params):
    """Estimator model_fn of the cnn classifier."""
    return classifier_head.estimator_spec(build_network(params), features, labels, mode, params)


MODEL = ModelSpec(model_fn=model_fn, feature_network=build_network)
