"""resnet: pre-activation (v2) ResNet, He et al. 2016, "Identity Mappings in Deep Residual Networks".

`resnet_depth` picks the layout: for the CIFAR-style stem (3x3 conv, small
inputs) any depth 6n+2 of basic blocks (20, 32, 56, 110, ...); for the
ImageNet-style stem (7x7/2 conv + max pool, large inputs) 18 or 34 (basic
blocks) or 50, 101, 152, 200 (bottleneck blocks). `resnet_width` multiplies
every filter count. `resnet_stem: auto` uses the CIFAR stem below 96 pixels.
"""
import tensorflow as tf

from library import classifier_head
from library.config import ConfigError
from library.recipe import ModelSpec

IMAGENET_LAYOUTS = {18: ('basic', [2, 2, 2, 2]), 34: ('basic', [3, 4, 6, 3]),
                    50: ('bottleneck', [3, 4, 6, 3]), 101: ('bottleneck', [3, 4, 23, 3]),
                    152: ('bottleneck', [3, 8, 36, 3]), 200: ('bottleneck', [3, 24, 36, 3])}
CIFAR_BASE_FILTERS = [16, 32, 64]
IMAGENET_BASE_FILTERS = [64, 128, 256, 512]
SMALL_INPUT_SIZE = 96
BOTTLENECK_EXPANSION = 4


def stem_kind(params):
    """Returns 'cifar' or 'imagenet' for the resnet_stem hyperparameter."""
    stem = params['resnet_stem']
    if stem == 'auto':
        return 'cifar' if params['image_size'] < SMALL_INPUT_SIZE else 'imagenet'
    if stem not in ('cifar', 'imagenet'):
        raise ConfigError("hyperparameter resnet_stem must be auto, cifar or imagenet, got %r"
                          % (stem,))
    return stem


def layout(params):
    """Returns (block kind, blocks per stage, base filters per stage) for `params`."""
    depth = params['resnet_depth']
    if stem_kind(params) == 'cifar':
        if depth < 8 or (depth - 2) % 6:
            raise ConfigError('hyperparameter resnet_depth must be 6n+2 (8, 14, 20, 32, 56, '
                              '110, ...) with the CIFAR-style stem, got %r' % (depth,))
        return 'basic', [(depth - 2) // 6] * 3, CIFAR_BASE_FILTERS
    if depth not in IMAGENET_LAYOUTS:
        raise ConfigError('hyperparameter resnet_depth must be one of %s with the ImageNet-style '
                          'stem, got %r' % (', '.join(map(str, sorted(IMAGENET_LAYOUTS))), depth))
    kind, blocks = IMAGENET_LAYOUTS[depth]
    return kind, blocks, IMAGENET_BASE_FILTERS


class PreActivationBlock(tf.keras.layers.Layer):
    """BN-ReLU-conv residual block (basic: two 3x3 convs; bottleneck: 1x1, 3x3, 1x1)."""

    def __init__(self, kind, filters, strides, project_shortcut, params, name):
        super().__init__(name=name)
        momentum = params['batch_norm_momentum']
        conv_options = dict(padding='same', use_bias=False,
                                kernel_initializer='he_normal')
        if kind == 'basic':
            shapes = [(filters, 3, strides), (filters, 3, 1)]
            output_filters = filters
        else:
            output_filters = filters * BOTTLENECK_EXPANSION
            shapes = [(filters, 1, 1), (filters, 3, strides), (output_filters, 1, 1)]
        self.norms = [tf.keras.layers.BatchNormalization(momentum=momentum, name='bn%d' % index)
                      for index in range(len(shapes))]
        self.convs = [tf.keras.layers.Conv2D(count, size, strides=stride, name='conv%d' % index,
                                             **conv_options)
                      for index, (count, size, stride) in enumerate(shapes)]
        self.shortcut = (tf.keras.layers.Conv2D(output_filters, 1, strides=strides,
                                                name='shortcut', **conv_options)
                         if project_shortcut else None)

    def call(self, inputs, training=False):
        preactivated = tf.nn.relu(self.norms[0](inputs, training=training))
        shortcut = self.shortcut(preactivated) if self.shortcut else inputs
        net = self.convs[0](preactivated)
        for norm, conv in zip(self.norms[1:], self.convs[1:]):
            net = conv(tf.nn.relu(norm(net, training=training)))
        return net + shortcut


class ResNetV2(tf.keras.layers.Layer):
    """Pre-activation ResNet features: stem, residual stages, final BN-ReLU, global average pool."""

    def __init__(self, params):
        super().__init__(name='features')
        kind, blocks_per_stage, base_filters = layout(params)
        width = params['resnet_width']
        if width <= 0:
            raise ConfigError('hyperparameter resnet_width must be positive, got %r' % (width,))
        filters = [max(1, int(round(count * width))) for count in base_filters]
        conv = dict(padding='same', use_bias=False, kernel_initializer='he_normal')
        if stem_kind(params) == 'cifar':
            self.stem = [tf.keras.layers.Conv2D(filters[0], 3, name='stem_conv', **conv)]
        else:
            self.stem = [tf.keras.layers.Conv2D(filters[0], 7, strides=2, name='stem_conv', **conv),
                         tf.keras.layers.MaxPool2D(3, strides=2, padding='same', name='stem_pool')]
        self.blocks = []
        channels = filters[0]
        for stage, (count, stage_filters) in enumerate(zip(blocks_per_stage, filters)):
            for index in range(count):
                strides = 2 if stage > 0 and index == 0 else 1
                output_channels = stage_filters * (BOTTLENECK_EXPANSION if kind == 'bottleneck' else 1)
                self.blocks.append(PreActivationBlock(
                    kind, stage_filters, strides, strides != 1 or channels != output_channels,
                    params, name='stage%d_block%d' % (stage + 1, index + 1)))
                channels = output_channels
        self.final_norm = tf.keras.layers.BatchNormalization(
            momentum=params['batch_norm_momentum'], name='final_bn')

    def call(self, images, training=False):
        net = images
        for layer in self.stem:
            net = layer(net)
        for block in self.blocks:
            net = block(net, training=training)
        net = tf.nn.relu(self.final_norm(net, training=training))
        return tf.reduce_mean(net, axis=[1, 2])


def build_network(params):
    """Returns the resnet ClassifierNetwork for `params`."""
    return classifier_head.ClassifierNetwork(ResNetV2(params), params, name='resnet')


def model_fn(features, labels, mode, params):
    """Estimator model_fn of the pre-activation ResNet classifier."""
    return classifier_head.estimator_spec(build_network(params), features, labels, mode, params)


MODEL = ModelSpec(model_fn=model_fn, feature_network=build_network)
