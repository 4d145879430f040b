"""hub: transfer learning from a TF Hub image module (a handle/URL or a local path).

The module (config key `hub_module`) becomes a hub.KerasLayer whose weights are
trained only with `fine_tuning: true`. Hub image modules take RGB values in
[0, 1] at the size they declare, so the [-1, 1] images of the input pipeline
are rescaled and resized to it (kept at image_size when the module declares none).
"""
import tensorflow as tf
import tensorflow_hub as hub

from library import classifier_head
from library.config import ConfigError
from library.recipe import ModelSpec


def declared_image_size(module):
    """Returns (height, width) that a loaded hub module declares for its images, or None."""
    # The traced tf.function a loaded SavedModel keeps as __call__, not a test for callability.
    functions = list(getattr(getattr(module, '__call__', None), 'concrete_functions', []))  # noqa: B004
    functions += list(getattr(module, 'signatures', {}).values())
    for function in functions:
        for spec in tf.nest.flatten(function.structured_input_signature):
            if isinstance(spec, tf.TensorSpec) and spec.shape.rank == 4:
                height, width = spec.shape[1], spec.shape[2]
                if height and width:
                    return height, width
    return None


def load_module_layer(params):
    """Returns the hub.KerasLayer of params['hub_module'], trainable when fine_tuning."""
    handle = params['hub_module']
    if not handle:
        raise ConfigError('config key hub_module must be a TF Hub handle or a local path of a '
                          'module for model hub, got %r' % (handle,))
    try:
        return hub.KerasLayer(handle, trainable=params['fine_tuning'], name='module')
    except (OSError, ValueError, tf.errors.OpError) as error:
        raise ConfigError('config key hub_module %r: cannot load the module (%s)' % (
            handle, str(error).splitlines()[0] if str(error) else type(error).__name__)) from None


class HubModuleFeatures(tf.keras.layers.Layer):
    """A TF Hub feature-vector module fed with [0, 1] images at the size it declares."""

    def __init__(self, params):
        super().__init__(name='features')
        self.handle = params['hub_module']
        self.module = load_module_layer(params)
        self.input_size = (declared_image_size(self.module.resolved_object)
                           or (params['image_size'], params['image_size']))

    def call(self, images, training=False):
        images = (images + 1.0) / 2.0
        if tuple(images.shape[1:3]) != tuple(self.input_size):
            images = tf.image.resize(images, self.input_size)
        features = self.module(images, training=training and self.module.trainable)
        if features.shape.rank != 2:
            raise ConfigError('config key hub_module %r: expected a module that returns a feature '
                              'vector [batch, features], got shape %s' % (
                                  self.handle, features.shape))
        return features


def build_network(params):
    """Returns the hub ClassifierNetwork for `params`."""
    return classifier_head.ClassifierNetwork(HubModuleFeatures(params), params, name='hub')


def model_fn(features, labels, mode, params):
    """Estimator model_fn of the TF Hub transfer-learning classifier."""
    return classifier_head.estimator_spec(build_network(params), features, labels, mode, params)


MODEL = ModelSpec(model_fn=model_fn, feature_network=build_network)
