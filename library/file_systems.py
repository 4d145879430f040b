"""File systems of the paths in a config: gs:// and ram:// come with TensorFlow, s3://, hdfs://
and az:// with tensorflow-io.

tensorflow-io registers its file systems when it is imported, so a config whose
paths use a scheme TensorFlow does not know yet imports it here (the scaffold
itself never needs it); without it, the run stops with a one-line message.
"""
import importlib

import tensorflow as tf

from library.config import ConfigError

PATH_KEYS = ('train_files', 'eval_files', 'model_dir', 'best_model_dir', 'warm_start_from', 'cache', 'export_dir')
PLUGIN_MODULE = 'tensorflow_io'


def schemes_in(config):
    """Returns {scheme: config key} for every `scheme://` path of the config's path keys."""
    schemes = {}
    for key in PATH_KEYS:
        for path in str(config.get(key) or '').split(','):
            if '://' in path:
                schemes.setdefault(path.strip().split('://', 1)[0], key)
    return schemes


def ensure_file_systems(config):
    """Makes every file system the config's paths use available, importing tensorflow-io if needed."""
    schemes = schemes_in(config)
    missing = sorted(set(schemes) - set(tf.io.gfile.get_registered_schemes()))
    if not missing:
        return
    try:
        importlib.import_module(PLUGIN_MODULE)
    except ImportError:
        raise ConfigError('%s: the %s:// file system needs the tensorflow-io plugin; pip install tensorflow-io' % (
            schemes[missing[0]], missing[0])) from None
    unknown = sorted(set(missing) - set(tf.io.gfile.get_registered_schemes()))
    if unknown:
        raise ConfigError('%s: TensorFlow has no %s:// file system (known: %s)' % (
            schemes[unknown[0]], unknown[0], ', '.join(
                scheme + '://' for scheme in sorted(tf.io.gfile.get_registered_schemes()) if scheme)))
