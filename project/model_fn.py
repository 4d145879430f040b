"""The Estimator's model_fn: picks the model named by `model` from the registry."""
from project import models


def model_fn(features, labels, mode, params):
    """Returns the EstimatorSpec of model params['model'] (see project/models/).

    The input_fn and the serving receiver hand over pixel values in [0, 255];
    every model sees features['image'] in [-1, 1].
    """
    if isinstance(features, dict) and 'image' in features:
        features = dict(features, image=unit_range(features['image']))
    return models.get_model(params['model']).model_fn(features, labels, mode, params)


def unit_range(images):
    """Maps pixel values in [0, 255] to [-1, 1]."""
    return images * (2.0 / 255.0) - 1.0
