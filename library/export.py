"""--mode export: a SavedModel for TF Serving and saved_model_cli, and optionally a TF Hub module.

The serving_default signature takes `image_bytes`, a batch of encoded JPEG/PNG strings,
and applies the evaluation preprocessing in the graph (the recipe's preprocess_for_serving),
so clients send raw image files. A model whose ModelSpec has a serving_input_fn (a
generator taking latent vectors, for instance) uses that instead. The class names go
into assets.extra/class_names.txt.
"""
import functools
import os
import re
import sys
import tempfile

import tensorflow as tf

from library import config as config_lib
from library import estimator as estimator_lib
from library import file_systems
from library import files
from library import hub_export

CLASS_NAMES_ASSET = 'class_names.txt'
HUB_FOLDER = 'hub'
TEMPORARY_EXPORT = re.compile(r'^temp-\d+$')  # Estimator builds an export in temp-<timestamp>, then renames it


def temporary_exports(export_dir):
    """Returns the temp-<timestamp> folders an unfinished export left in `export_dir`."""
    if not tf.io.gfile.isdir(export_dir):
        return set()
    return {files.join(export_dir, name.rstrip('/')) for name in tf.io.gfile.listdir(export_dir)
            if TEMPORARY_EXPORT.match(name.rstrip('/'))}


def remove_temporary_exports(export_dir, keep=frozenset()):
    """Deletes the temp-<timestamp> folders in `export_dir` except `keep`; returns the deleted ones."""
    removed = sorted(temporary_exports(export_dir) - set(keep))
    for folder in removed:
        files.remove(folder)
    return removed


def image_bytes_receiver(preprocess_for_serving, params):
    """Returns the ServingInputReceiver: `image_bytes` [None] strings -> preprocessed images."""
    image_bytes = tf.compat.v1.placeholder(tf.string, [None], name='image_bytes')
    images = tf.map_fn(
        lambda encoded: preprocess_for_serving(encoded, params),
        image_bytes, fn_output_signature=tf.float32)
    images.set_shape([None, params['image_size'], params['image_size'], params['channels']])
    return tf.estimator.export.ServingInputReceiver({'image': images},
                                                    {'image_bytes': image_bytes})


def serving_input_receiver_fn(recipe, params):
    """Returns the receiver function: the model's own serving_input_fn, else image_bytes_receiver."""
    if recipe.model.serving_input_fn is not None:
        return functools.partial(recipe.model.serving_input_fn, params)
    return functools.partial(image_bytes_receiver, recipe.preprocess_for_serving, params)


def export_hub_module(model, params, checkpoint, version_dir):
    """Writes the feature extractor of `checkpoint` as a TF Hub module; returns its path."""
    if model.feature_network is None:
        raise config_lib.ConfigError('export_hub_module: model %s has no feature extractor to '
                                     'export (classifiers such as cnn and resnet have one)'
                                     % params['model'])
    target = files.join(params['export_dir'], HUB_FOLDER, version_dir)
    tf.io.gfile.makedirs(files.join(params['export_dir'], HUB_FOLDER))
    return hub_export.export_feature_extractor(model.feature_network, params, checkpoint, target)


def export_saved_model(estimator, recipe, params, checkpoint, export_dir):
    """Writes the SavedModel of `checkpoint` into a new version folder of `export_dir`; returns its path."""
    with tempfile.TemporaryDirectory() as scratch:
        names_file = os.path.join(scratch, CLASS_NAMES_ASSET)
        with open(names_file, 'w', encoding='utf-8') as stream:
            stream.write(''.join('%s\n' % name for name in params['class_names']))
        # Estimator renames a finished export's folder into place, which object stores and
        # ram:// cannot do; a remote --export_dir gets a local export copied file by file.
        local = files.is_local(export_dir)
        path = estimator.export_saved_model(
            export_dir if local else os.path.join(scratch, 'export'), serving_input_receiver_fn(recipe, params),
            assets_extra={CLASS_NAMES_ASSET: names_file}, checkpoint_path=checkpoint)
        path = path.decode() if isinstance(path, bytes) else path
        if not local:
            tf.io.gfile.makedirs(export_dir)
            remote_path = files.join(export_dir, os.path.basename(path))
            files.copy_folder(path, remote_path)
            path = remote_path
    return path


def export(args, config, recipe):
    """Exports --checkpoint (best, latest or a path) to a new version folder in --export_dir."""
    file_systems.ensure_file_systems({'export_dir': args.export_dir})
    estimator, params = estimator_lib.make_estimator(config, recipe)
    checkpoint = estimator_lib.resolve_checkpoint(args.checkpoint, config)
    params['export_dir'] = args.export_dir
    for folder in remove_temporary_exports(args.export_dir):
        sys.stderr.write('export: removed %s, left by an export that did not finish\n' % folder)
    try:
        path = export_saved_model(estimator, recipe, params, checkpoint, args.export_dir)
    finally:
        remove_temporary_exports(args.export_dir)
    sys.stdout.write('exported SavedModel from %s to %s\n' % (checkpoint, path))
    if recipe.model.serving_input_fn is None:
        sys.stdout.write(
            'try it: python -c "import sys, numpy; numpy.save(\'images.npy\', numpy.array('
            '[open(name, \'rb\').read() for name in sys.argv[1:]], dtype=object))" a.jpg b.png\n'
            '        saved_model_cli run --dir %s --tag_set serve --signature_def '
            'serving_default --inputs image_bytes=images.npy\n' % path)
    if config['export_hub_module']:
        hub_path = export_hub_module(recipe.model, params, checkpoint, os.path.basename(path.rstrip('/')))
        sys.stdout.write('exported TF Hub feature-vector module to %s (use it with --model hub '
                         '--hub_module %s)\n' % (hub_path, hub_path))
    return 0
