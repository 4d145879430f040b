"""The contract between project/ (the recipe a user edits) and library/ (the machinery it runs on).

run.py builds a Recipe from project/ and hands it to the library's modes, so no
library module imports project/. Each model module states what it provides
once, as `MODEL = ModelSpec(...)`; the registry (project/models/__init__.py)
checks that declaration when it loads the module.
"""
import dataclasses
from typing import Callable, Optional

from library.config import ConfigError


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What a model module provides.

    model_fn: (features, labels, mode, params) -> tf.estimator.EstimatorSpec, with
        features['image'] in [-1, 1].
    requires_classes: the model needs labelled data and a class list (classifiers).
    generates_images: PREDICT draws images from latent vectors (`--mode sample` works).
    serving_input_fn: params -> ServingInputReceiver of the exported SavedModel;
        None takes a batch of encoded images (`image_bytes`).
    feature_network: params -> the network whose `features` layer `--export_hub_module`
        writes as a TF Hub module; None when the model has none.
    """
    model_fn: Callable
    requires_classes: bool = True
    generates_images: bool = False
    serving_input_fn: Optional[Callable] = None
    feature_network: Optional[Callable] = None

    def __post_init__(self):
        if not callable(self.model_fn):
            raise TypeError('ModelSpec.model_fn must be callable, got %r' % (self.model_fn,))
        for name in ('serving_input_fn', 'feature_network'):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise TypeError('ModelSpec.%s must be callable or None, got %r' % (name, value))


def model_spec_of(module):
    """Returns the ModelSpec a model module declares as MODEL; ConfigError naming the module if it does not."""
    spec = getattr(module, 'MODEL', None)
    if not isinstance(spec, ModelSpec):
        raise ConfigError('%s: a model module must declare MODEL = ModelSpec(model_fn=...) '
                          '(see library/recipe.py), got %r' % (module.__file__, spec))
    return spec


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What project/ hands the library: the data path and the model path of one run.

    input_fn: (mode, params, input_context=None, epochs=None) -> tf.data.Dataset of
        ({'image': float32 pixels in [0, 255]}, int32 labels).
    model_fn: (features, labels, mode, params) -> tf.estimator.EstimatorSpec.
    model: the ModelSpec of the model the config names.
    preprocess_for_serving: (one encoded image, params) -> its float32
        [image_size, image_size, channels] pixels in [0, 255], as evaluation sees them.
    """
    input_fn: Callable
    model_fn: Callable
    model: ModelSpec
    preprocess_for_serving: Callable
