"""The Estimator's model_fn: picks the model named by `model` from the registry."""
from project import models


def model_fn(features, labels, mode, params):
    """Returns the EstimatorSpec of model params['model'] (see project/models/)."""
    return models.get_model(params['model']).model_fn(features, labels, mode, params)
