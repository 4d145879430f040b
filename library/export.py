"""--mode export: a SavedModel for TF Serving and saved_model_cli, and optionally a TF Hub module.

The serving_default signature takes `image_bytes`, a batch of encoded JPEG/PNG strings,
and applies the evaluation preprocessing in the graph (project.input_fn.preprocess_for_serving),
so clients send raw image files. A model module that defines its own
`serving_input_receiver_fn(params)` (a generator taking latent vectors, for instance)
uses that instead. The class names go into assets.extra/class_names.txt.
"""
import functools
import os
import sys
import tempfile

import tensorflow as tf

from library import best_snapshot
from library import config as config_lib
from library import estimator as estimator_lib
from library import file_systems
from project import feature_export
from project import input_fn as project_input_fn
from project.models import get_model

CLASS_NAMES_ASSET = 'class_names.txt'
HUB_FOLDER = 'hub'


def image_bytes_receiver(params):
    """Returns the ServingInputReceiver: `image_bytes` [None] strings -> preprocessed images."""
    image_bytes = tf.compat.v1.placeholder(tf.string, [None], name='image_bytes')
    images = tf.map_fn(
        lambda encoded: project_input_fn.preprocess_for_serving(encoded, params),
        image_bytes, fn_output_signature=tf.float32)
    images.set_shape([None, params['image_size'], params['image_size'], params['channels']])
    return tf.estimator.export.ServingInputReceiver({'image': images},
                                                    {'image_bytes': image_bytes})


def serving_input_receiver_fn(params):
    """Returns the receiver function: the model module's own, else image_bytes_receiver."""
    module = get_model(params['model'])
    receiver = getattr(module, 'serving_input_receiver_fn', image_bytes_receiver)
    return functools.partial(receiver, params)


def export_hub_module(params, checkpoint, version_dir):
    """Writes the feature extractor of `checkpoint` as a TF Hub module; returns its path."""
    if not hasattr(get_model(params['model']), 'build_network'):
        raise config_lib.ConfigError('export_hub_module: model %s has no feature extractor to '
                                     'export (classifiers such as cnn and resnet have one)'
                                     % params['model'])
    target = best_snapshot.join(params['export_dir'], HUB_FOLDER, version_dir)
    tf.io.gfile.makedirs(best_snapshot.join(params['export_dir'], HUB_FOLDER))
    return feature_export.export_feature_extractor(params, checkpoint, target)


def export(args, config):
    """Exports --checkpoint (best, latest or a path) to a new version folder in --export_dir."""
    file_systems.ensure_file_systems({'export_dir': args.export_dir})
    estimator, params = estimator_lib.make_estimator(config)
    checkpoint = estimator_lib.resolve_checkpoint(args.checkpoint, config)
    params['export_dir'] = args.export_dir
    with tempfile.TemporaryDirectory() as scratch:
        names_file = os.path.join(scratch, CLASS_NAMES_ASSET)
        with open(names_file, 'w', encoding='utf-8') as stream:
            stream.write(''.join('%s\n' % name for name in params['class_names']))
        # Estimator renames a finished export's folder into place, which object stores and
        # ram:// cannot do; a remote --export_dir gets a local export copied file by file.
        local = best_snapshot.is_local(args.export_dir)
        path = estimator.export_saved_model(
            args.export_dir if local else os.path.join(scratch, 'export'), serving_input_receiver_fn(params),
            assets_extra={CLASS_NAMES_ASSET: names_file}, checkpoint_path=checkpoint)
        path = path.decode() if isinstance(path, bytes) else path
        if not local:
            tf.io.gfile.makedirs(args.export_dir)
            remote_path = best_snapshot.join(args.export_dir, os.path.basename(path))
            best_snapshot.copy_folder(path, remote_path)
            path = remote_path
    sys.stdout.write('exported SavedModel from %s to %s\n' % (checkpoint, path))
    if not hasattr(get_model(params['model']), 'serving_input_receiver_fn'):
        sys.stdout.write(
            'try it: python -c "import sys, numpy; numpy.save(\'images.npy\', numpy.array('
            '[open(name, \'rb\').read() for name in sys.argv[1:]], dtype=object))" a.jpg b.png\n'
            '        saved_model_cli run --dir %s --tag_set serve --signature_def '
            'serving_default --inputs image_bytes=images.npy\n' % path)
    if config['export_hub_module']:
        hub_path = export_hub_module(params, checkpoint, os.path.basename(path.rstrip('/')))
        sys.stdout.write('exported TF Hub feature-vector module to %s (use it with --model hub '
                         '--hub_module %s)\n' % (hub_path, hub_path))
    return 0
