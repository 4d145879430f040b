"""Looking inside a classifier: TensorBoard images of its first convolution's filters and chosen layers' outputs.

Written every 10 x save_summary_steps training steps (IMAGES tab of TensorBoard):
`layers/first_conv_filters` (one tile per filter, upscaled) and, for each name in
`visualize_layers`, `layers/<name>` (for the first images of the batch, one tile
per channel of that layer's output, each scaled to its own min..max; a vector
output is shown as a square of pixels).

Layers are named by their path below the network, such as `features/conv1` (cnn)
or `features/stage2_block1` (resnet); the last part alone (`conv1`) is enough
when no other layer ends with it. An unknown name is a config error listing
every layer of the model.
"""
import contextlib
import math

import tensorflow as tf

from library import distribution
from library.config import ConfigError

SUMMARY_STEPS_FACTOR = 10
IMAGES = 3
MAX_CHANNELS = 64
FILTER_TILE_PIXELS = 24
COLLECTION = 'layer_images'


def child_layers(layer):
    """Returns the Keras layers directly inside `layer`."""
    below = [module for module in layer.submodules if isinstance(module, tf.keras.layers.Layer)]
    nested = {id(inner) for module in below for inner in module.submodules}
    return [module for module in below if id(module) not in nested]


def layer_paths(network, prefix=''):
    """Returns {path: layer} for every layer below `network`; a path joins layer names with '/'."""
    paths = {}
    for layer in child_layers(network):
        path = prefix + layer.name
        paths.setdefault(path, layer)
        paths.update(layer_paths(layer, path + '/'))
    return paths


def chosen_layers(network, names):
    """Returns {name: layer} for the visualize_layers `names`, or raises ConfigError naming the choices."""
    if not names:
        return {}
    paths = layer_paths(network)
    chosen = {}
    for name in names:
        matches = [path for path in paths if path == name or path.endswith('/' + str(name))]
        if len(matches) > 1 and name not in matches:
            raise ConfigError('visualize_layers: %r is ambiguous in model %s: %s; give the full path' % (
                name, network.name, ', '.join(matches)))
        if not matches:
            raise ConfigError('visualize_layers: model %s has no layer %r; its layers: %s' % (
                network.name, name, ', '.join(paths)))
        chosen[name] = paths[name if name in matches else matches[0]]
    return chosen


class Inspection:
    """What one call of the network showed: chosen layers' outputs and its first convolution's kernel."""

    def __init__(self):
        self.outputs = {}
        self.first_kernel = None


@contextlib.contextmanager
def inspecting(network, params):
    """Records, while the body calls `network`, the outputs of the visualize_layers and the first conv kernel.

    Each chosen layer's `call` is wrapped for the duration (its first output is
    kept); the kernel is the filter input of the first Conv2D op the call adds to the graph.
    """
    inspection = Inspection()
    layers = chosen_layers(network, params.get('visualize_layers') or [])
    for name, layer in layers.items():
        layer.call = recording_call(layer.call, name, inspection.outputs)
    graph = tf.compat.v1.get_default_graph()
    first_new_op = len(graph.get_operations())
    try:
        yield inspection
    finally:
        for layer in layers.values():
            del layer.call
    convolutions = [op for op in graph.get_operations()[first_new_op:] if op.type == 'Conv2D']
    if convolutions:
        inspection.first_kernel = convolutions[0].inputs[1]


def recording_call(call, name, outputs):
    """Returns `call` that also keeps its first output in outputs[name]."""
    def call_and_record(*args, **kwargs):
        result = call(*args, **kwargs)
        outputs.setdefault(name, result)
        return result
    return call_and_record


def scaled_to_unit(tiles, axes):
    """Scales every tile of float `tiles` to [0, 1] by its own minimum and maximum over `axes`."""
    low = tf.reduce_min(tiles, axis=axes, keepdims=True)
    high = tf.reduce_max(tiles, axis=axes, keepdims=True)
    return (tiles - low) / tf.maximum(high - low, 1e-8)


def tile_grid(tiles):
    """Lays out [batch, n, height, width, channels] tiles as [batch, H, W, channels] grids with white lines."""
    count, height, width, channels = tiles.shape[1:]
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    tiles = tf.pad(tiles, [[0, 0], [0, rows * columns - count], [0, 1], [0, 1], [0, 0]], constant_values=1.0)
    grid = tf.reshape(tiles, [-1, rows, columns, height + 1, width + 1, channels])
    grid = tf.transpose(grid, [0, 1, 3, 2, 4, 5])
    return tf.reshape(grid, [-1, rows * (height + 1), columns * (width + 1), channels])


def filter_grid(kernel):
    """Returns [1, H, W, 1 or 3]: a conv kernel [height, width, in, out] as one upscaled tile per filter."""
    kernel = tf.cast(kernel, tf.float32)
    if kernel.shape[2] != 3:
        kernel = tf.reduce_mean(kernel, axis=2, keepdims=True)
    tiles = scaled_to_unit(tf.transpose(kernel, [3, 0, 1, 2]), axes=[1, 2, 3])
    factor = max(1, FILTER_TILE_PIXELS // max(kernel.shape[0], kernel.shape[1]))
    tiles = tf.repeat(tf.repeat(tiles, factor, axis=1), factor, axis=2)
    return tile_grid(tiles[tf.newaxis])


def activation_grid(output, name):
    """Returns [images, H, W, 1]: a layer output [batch, h, w, c] as channel tiles, or [batch, n] as a square."""
    output = tf.cast(output[:IMAGES], tf.float32)
    if output.shape.rank == 4:
        channels = min(output.shape[3], MAX_CHANNELS)
        tiles = tf.transpose(output[..., :channels], [0, 3, 1, 2])[..., tf.newaxis]
        return tile_grid(scaled_to_unit(tiles, axes=[2, 3, 4]))
    if output.shape.rank == 2:
        side = math.ceil(math.sqrt(output.shape[1]))
        padded = tf.pad(scaled_to_unit(output, axes=[1]), [[0, 0], [0, side * side - output.shape[1]]])
        return tf.reshape(padded, [-1, side, side, 1])
    raise ConfigError('visualize_layers: layer %r outputs shape %s; expected [batch, height, width, '
                      'channels] or [batch, features]' % (name, output.shape))


def summary_hooks(inspection, params):
    """Returns [SummarySaverHook] writing the inspection's images every 10 x save_summary_steps, or [].

    Only the chief of a cluster writes them (a multi_worker replica that skips summaries adds none).
    """
    if not distribution.is_chief():
        return []
    if inspection.first_kernel is not None:
        tf.compat.v1.summary.image('layers/first_conv_filters', filter_grid(inspection.first_kernel),
                                   max_outputs=1, collections=[COLLECTION])
    for name, output in inspection.outputs.items():
        tf.compat.v1.summary.image('layers/' + name, activation_grid(output, name), max_outputs=IMAGES,
                                   collections=[COLLECTION])
    summaries = tf.compat.v1.get_collection(COLLECTION)
    if not summaries:
        return []
    return [tf.estimator.SummarySaverHook(
        save_steps=max(params['save_summary_steps'], 1) * SUMMARY_STEPS_FACTOR,
        output_dir=params['model_dir'], summary_op=tf.compat.v1.summary.merge(summaries))]
