"""Model registry: `--model NAME` picks one of these modules.

Every module declares `MODEL = ModelSpec(...)` (library/recipe.py): its
model_fn and what else it provides. Only the names listed here can be loaded,
so a config value can never import an arbitrary module.
"""
import importlib

from library.config import ConfigError
from library.recipe import model_spec_of

MODELS = {
    'cnn': 'project.models.cnn',
    'resnet': 'project.models.resnet',
    'hub': 'project.models.hub',
    'autoencoder': 'project.models.autoencoder',
    'vae': 'project.models.vae',
    'dcgan': 'project.models.dcgan',
    'wgan_gp': 'project.models.wgan_gp',
}


def check_model_name(name):
    """Raises ConfigError, listing the known models, if `name` is not one."""
    if name not in MODELS:
        raise ConfigError('unknown model %r; known models: %s' % (name, ', '.join(sorted(MODELS))))


def get_model(name):
    """Returns the ModelSpec of model `name`; unknown names list the known ones."""
    check_model_name(name)
    return model_spec_of(importlib.import_module(MODELS[name]))
