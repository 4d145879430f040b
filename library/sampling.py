"""--mode sample: decode the fixed latent vectors of a generative model's checkpoint.

    python run.py --config_set demo_vae --mode sample --checkpoint best

writes <model_dir>/samples/samples-step-<step>.png (the sample grid, one row
per class when conditional) and interpolation-step-<step>.png (rows of linear
interpolation between two latent vectors), the same images that every
evaluation writes, plus their TensorBoard summaries.
"""
import sys

import numpy as np
import tensorflow as tf

from library import checkpoints
from library import config as config_lib
from library import estimator as estimator_lib
from library.generative import images as generative_images
from library.generative import spec as generative_spec


def grid_features(params):
    """Returns ({'z': ..., 'label': ...} of all images to draw, [(name, count, rows)])."""
    parts = [('samples', generative_images.grid_latents(params),
              generative_images.grid_labels(params), generative_images.grid_layout(params)[0]),
             ('interpolation', generative_images.interpolation_latents(params),
              generative_images.interpolation_labels(params), params['interpolation_rows'])]
    features = {generative_spec.LATENT_KEY: np.concatenate([latents for _, latents, _, _ in parts])}
    if params['conditional']:
        features[generative_spec.LABEL_KEY] = np.concatenate([labels for _, _, labels, _ in parts])
    layout = [(name, len(latents), rows) for name, latents, _, rows in parts]
    return features, layout


def generate_images(estimator, features, batch_size, checkpoint):
    """Returns the generated images [count, size, size, channels] in [-1, 1]."""
    def input_fn():
        return tf.data.Dataset.from_tensor_slices(features).batch(batch_size)
    batches = estimator.predict(input_fn, predict_keys=['images'], checkpoint_path=checkpoint,
                                yield_single_examples=False)
    return np.concatenate([batch['images'] for batch in batches])


def sample(args, config, recipe):
    """Writes the sample grid and interpolation PNGs of --checkpoint; returns the exit code."""
    if not recipe.model.generates_images:
        raise config_lib.ConfigError('--mode sample needs a generative model (autoencoder, vae, '
                                     'dcgan, wgan_gp), got model %s' % config['model'])
    estimator, params = estimator_lib.make_estimator(config, recipe)
    generative_spec.check_params(params)
    checkpoint = estimator_lib.resolve_checkpoint(args.checkpoint, config)
    step = checkpoints.checkpoint_step(checkpoint)
    features, layout = grid_features(params)
    images = generate_images(estimator, features, config['eval_batch_size'], checkpoint)
    named_images, start = {}, 0
    for name, count, rows in layout:
        named_images[name] = (images[start:start + count], rows)
        start += count
    for path in generative_images.write_grids(generative_images.samples_dir(params), step,
                                              named_images):
        sys.stdout.write('wrote %s\n' % path)
    return 0
