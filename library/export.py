"""--mode export: a SavedModel for TF Serving and saved_model_cli, and optionally a TF Hub module.

The serving_default signature takes `image_bytes`, a batch of encoded JPEG/PNG/GIF/BMP
strings, and applies the evaluation preprocessing in the graph (the recipe's
preprocess_for_serving), so clients send raw image files. Besides the model's outputs it
returns `status` per image: '' when served, else the problem (not an image, over
`max_pixels`, cut short, undecodable); such an image gets zeros ('' for strings) in the
other outputs and the rest of the batch is served. An empty batch gives empty outputs.
A model whose ModelSpec has a serving_input_fn (a generator taking latent vectors, for
instance) uses that instead. The class names go into assets.extra/class_names.txt.
"""
import dataclasses
import functools
import os
import re
import sys
import tempfile

import tensorflow as tf

from library import config as config_lib
from library import estimator as estimator_lib
from library import file_systems, files, hub_export
from library.data import examine, headers

CLASS_NAMES_ASSET = 'class_names.txt'
STATUS = 'status'
SERVING_KEY = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
UNDECODABLE = 'the image cannot be decoded (the server log says why)'
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


def checked_image(encoded, preprocess, max_pixels, blank):
    """Returns (preprocess(encoded), '') for one encoded image, or (blank, its problem) without raising.

    The header is checked first (library/data/headers.py: format, size within
    `max_pixels`, end marker), so nothing is decoded that is refused; an image
    that passes but still fails to decode is caught and logged by the server.
    """
    problem = headers.image_problem(encoded, max_pixels)

    def decode():
        (image,), failure = examine.guarded(lambda data: (preprocess(data),), encoded, (blank,), UNDECODABLE)
        return image, failure
    return tf.cond(tf.equal(problem, ''), decode, lambda: (blank, problem))


def image_bytes_receiver(preprocess_for_serving, params):
    """Returns the ServingInputReceiver: `image_bytes` [None] strings -> preprocessed images and the
    `status` of each ('' or its problem; the model_fn sees it through with_status)."""
    image_bytes = tf.compat.v1.placeholder(tf.string, [None], name='image_bytes')
    shape = [params['image_size'], params['image_size'], params['channels']]
    images, status = tf.map_fn(
        lambda encoded: checked_image(encoded, lambda data: preprocess_for_serving(data, params),
                                      params['max_pixels'], tf.zeros(shape)),
        image_bytes, fn_output_signature=(tf.TensorSpec(shape, tf.float32), tf.TensorSpec([], tf.string)))
    # Convolutions fused by the graph optimizer fail on an empty batch: the model sees one blank image
    # instead, whose outputs with_status drops.
    images = tf.cond(tf.equal(tf.size(status), 0), lambda: tf.zeros([1] + shape), lambda: images)
    return tf.estimator.export.ServingInputReceiver({'image': images, STATUS: status},
                                                    {'image_bytes': image_bytes})


def blanked(output, served):
    """Returns `output` with zeros (or '') in the rows of the images that were not `served`."""
    mask = tf.reshape(served, tf.concat([tf.shape(served), tf.ones([tf.rank(output) - 1], tf.int32)], 0))
    return tf.where(mask, output, tf.zeros_like(output))


def with_status(model_fn):
    """Wraps `model_fn` so the serving signature also returns each image's `status` and blank outputs
    (zeros, '') for an image that has a problem, one row per image sent; the model never sees `status`."""

    def model_fn_with_status(features, labels, mode, params):
        if STATUS not in features:
            return model_fn(features, labels, mode, params)
        status = features[STATUS]
        spec = model_fn({key: value for key, value in features.items() if key != STATUS}, labels, mode, params)
        served = tf.equal(status, '')
        outputs = spec.export_outputs[SERVING_KEY].outputs
        outputs = {name: blanked(value[:tf.size(status)], served) for name, value in outputs.items()}
        outputs[STATUS] = status
        return spec._replace(export_outputs=dict(
            spec.export_outputs, **{SERVING_KEY: tf.estimator.export.PredictOutput(outputs)}))
    return model_fn_with_status


def serving_input_receiver_fn(recipe, params):
    """Returns the receiver function: the model's own serving_input_fn, else image_bytes_receiver."""
    if recipe.model.serving_input_fn is not None:
        return functools.partial(recipe.model.serving_input_fn, params)
    return functools.partial(image_bytes_receiver, recipe.preprocess_for_serving, params)


def check_hub_export(model, config):
    """Raises ConfigError when export_hub_module is asked of a model without a feature extractor."""
    if config['export_hub_module'] and model.feature_network is None:
        raise config_lib.ConfigError('export_hub_module: model %s has no feature extractor to '
                                     'export (classifiers such as cnn and resnet have one)'
                                     % config['model'])


def export_hub_module(model, params, checkpoint, version_dir):
    """Writes the feature extractor of `checkpoint` as a TF Hub module; returns its path."""
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
    check_hub_export(recipe.model, config)
    if recipe.model.serving_input_fn is None:
        recipe = dataclasses.replace(recipe, model_fn=with_status(recipe.model_fn))
    estimator, params = estimator_lib.make_estimator(config, recipe)
    checkpoint = estimator_lib.fitting_checkpoint(args.checkpoint, config, recipe, params)
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
