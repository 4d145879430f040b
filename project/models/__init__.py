"""Model registry: `--model NAME` picks one of these modules.

Every module defines `model_fn(features, labels, mode, params)` returning a
tf.estimator.EstimatorSpec. Only the names listed here can be loaded, so a
config value can never import an arbitrary module.
"""
import importlib

from library.config import ConfigError

MODELS = {
    'cnn': 'project.models.cnn',
    'resnet': 'project.models.resnet',
    'hub': 'project.models.hub',
    'autoencoder': 'project.models.autoencoder',
    'vae': 'project.models.vae',
    'dcgan': 'project.models.dcgan',
    'wgan_gp': 'project.models.wgan_gp',
}


class UnknownModelError(ConfigError):
    """Raised for a model name that is not in the registry."""


def check_model_name(name):
    """Raises UnknownModelError, listing the known models, if `name` is not one."""
    if name not in MODELS:
        raise UnknownModelError('unknown model %r; known models: %s' % (
            name, ', '.join(sorted(MODELS))))


def get_model(name):
    """Returns the module of model `name`; unknown names list the known ones."""
    check_model_name(name)
    return importlib.import_module(MODELS[name])
