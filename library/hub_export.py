"""Export a trained classifier's feature extractor as a TF Hub module (TF2 SavedModel).

The module follows the reusable SavedModel convention that hub.KerasLayer
loads: `__call__(images, training=False)` on float32 RGB images in [0, 1] of
the trained image_size, returning the [batch, features] vector, plus
`variables`, `trainable_variables` and `regularization_losses`. The `hub`
model can then fine-tune it with `--hub_module EXPORT_DIR`, without network.
"""
import tensorflow as tf

from library import files
from library.config import ConfigError


def restore_variables(variables, checkpoint_path):
    """Assigns each of `variables` the value saved under its name in the Estimator checkpoint."""
    # Not tf.train.load_checkpoint: it takes a ram:// prefix for a folder.
    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint_path)
    for variable in variables:
        name = variable.name.split(':')[0]
        if not reader.has_tensor(name):
            raise ConfigError('checkpoint %s has no variable %r: was it trained with this model '
                              'and these hyperparameters?' % (checkpoint_path, name))
        variable.assign(reader.get_tensor(name))


def feature_module(network, image_size, channels):
    """Returns the tf.train.Checkpoint root object that tf.saved_model.save writes."""
    root = tf.train.Checkpoint()
    root.variables = list(network.features.variables)
    root.trainable_variables = list(network.features.trainable_variables)
    root.regularization_losses = []

    @tf.function
    def extract_features(images, training=False):
        return network.features(images * 2.0 - 1.0, training=training)

    spec = tf.TensorSpec([None, image_size, image_size, channels], tf.float32, name='images')
    for training in (False, True):
        extract_features.get_concrete_function(spec, training=training)
    root.__call__ = extract_features
    return root


def export_feature_extractor(feature_network, params, checkpoint_path, export_dir):
    """Writes the feature extractor of `checkpoint_path` to `export_dir`; returns export_dir.

    `feature_network(params)` builds the model's network (a ModelSpec's
    feature_network; needs num_classes). The SavedModel is written under a
    temporary name and renamed, so an interrupted export leaves no half module behind.
    """
    if tf.io.gfile.exists(export_dir):
        raise ConfigError('--export_dir %s already exists; choose a new folder for the hub '
                          'module' % export_dir)
    network = feature_network(params)
    size, channels = params['image_size'], params['channels']
    network(tf.zeros([1, size, size, channels]), training=False)
    restore_variables(network.variables, checkpoint_path)
    temporary_dir = files.temporary_sibling(export_dir)
    tf.saved_model.save(feature_module(network, size, channels), temporary_dir)
    files.move_folder(temporary_dir, export_dir)
    return export_dir
