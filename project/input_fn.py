"""The Estimator's input_fn: the recipe's settings, handed to the library's input pipeline.

`train_files`/`eval_files` name TFRecord shards (convert_dataset.py) or an
image folder with class sub-folders. library/data/pipeline.py reads, shuffles,
caches and batches; project/preprocessing.py says what happens to one image.
"""
from library.config import ConfigError
from library.data import pipeline
from project import preprocessing


def input_fn(mode, params, input_context=None, epochs=None):
    """Returns a tf.data.Dataset of ({'image': float32 [batch, size, size, channels] in [0, 255]}, int32 labels)
    for `mode` (features only in PREDICT); TRAIN repeats `epochs` times (None: forever)."""
    check_params(params)

    def train_fn(image, seed):
        return preprocessing.preprocess_for_train(
            image, seed, params['image_size'], params['channels'], params['resize_method'],
            area_range=params['crop_area_range'], aspect_range=params['crop_aspect_range'],
            max_attempts=params['crop_max_attempts'], crop_fraction=params['eval_crop_fraction'],
            random_flip=params['random_flip'], jitter=params['color_jitter'])
    return pipeline.make_dataset(mode, params, input_context, epochs, train_fn,
                                 lambda encoded: preprocess_for_serving(encoded, params))


def preprocess_for_serving(image_bytes, params):
    """Returns the evaluation preprocessing of one encoded image: what the exported SavedModel serves."""
    return preprocessing.preprocess_for_eval(image_bytes, params['image_size'], params['channels'],
                                             params['resize_method'], params['eval_crop_fraction'])


def check_params(params):
    """Raises ConfigError for crop settings that cannot work."""
    for key in ('crop_area_range', 'crop_aspect_range'):
        value = params[key]
        if not isinstance(value, (list, tuple)) or len(value) != 2 or not 0 < value[0] <= value[1]:
            raise ConfigError('%s: expected [low, high] with 0 < low <= high, got %r' % (key, value))
    if not 0 < params['eval_crop_fraction'] <= 1:
        raise ConfigError('eval_crop_fraction: expected a number in (0, 1], got %r' % (params['eval_crop_fraction'],))
    if params['crop_max_attempts'] < 1:
        raise ConfigError('crop_max_attempts: expected a positive integer, got %r' % (params['crop_max_attempts'],))
