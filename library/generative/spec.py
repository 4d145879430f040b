"""Pieces every generative model shares: label conditioning, the PREDICT spec and
the serving receiver of the exported generator.

A generative model's PREDICT mode (and its SavedModel) generates images from
latent vectors: features {'z': float32 [batch, latent_dim]} plus
{'label': int32 [batch]} when the model is conditional; predictions
{'images': float32 in [-1, 1], 'images_uint8': uint8 in [0, 255]}.
"""
import tensorflow as tf

from library.config import ConfigError
from library.generative import images as generative_images

LATENT_KEY = 'z'
LABEL_KEY = 'label'
EVAL_LATENT_SEED = 7  # evaluation's generated images come from the same latent vectors at every checkpoint


def check_params(params):
    """Raises ConfigError when conditional is set but the number of classes is unknown.

    (Bounds of the generative keys are checked with the config.)
    """
    if params['conditional'] and not params.get('num_classes'):
        raise ConfigError('conditional is true but the number of classes is unknown: convert '
                          'labelled data (<name>.json lists the classes) or set num_classes')


def conditioning(labels, params):
    """Returns the labels the networks are conditioned on, or None when unconditional.

    Conditional models need every example labelled; an unlabelled one (-1)
    stops the step with an error naming the problem.
    """
    if not params['conditional']:
        return None
    labels = tf.cast(labels, tf.int32)
    check = tf.debugging.assert_non_negative(
        labels, message='conditional is true but the data holds unlabelled examples (label -1)')
    with tf.control_dependencies([check]):
        return tf.identity(labels)


def predict_spec(features, params, generate):
    """Returns the PREDICT EstimatorSpec generating images from features['z'] (and ['label'])."""
    if LATENT_KEY not in features:
        raise ConfigError('model %s generates images from latent vectors (feature %r); use '
                          '--mode sample to write sample grids or --mode export for a generator '
                          'SavedModel' % (params['model'], LATENT_KEY))
    labels = tf.cast(features[LABEL_KEY], tf.int32) if params['conditional'] else None
    images = generate(tf.cast(features[LATENT_KEY], tf.float32), labels)
    predictions = {'images': images, 'images_uint8': generative_images.to_uint8(images)}
    return tf.estimator.EstimatorSpec(
        tf.estimator.ModeKeys.PREDICT, predictions=predictions,
        export_outputs={tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY:
                        tf.estimator.export.PredictOutput(predictions)})


def serving_input_receiver_fn(params):
    """Returns the receiver of the exported generator: 'z' [None, latent_dim] (and 'label')."""
    receivers = {LATENT_KEY: tf.compat.v1.placeholder(
        tf.float32, [None, params['latent_dim']], name=LATENT_KEY)}
    if params['conditional']:
        receivers[LABEL_KEY] = tf.compat.v1.placeholder(tf.int32, [None], name=LABEL_KEY)
    return tf.estimator.export.ServingInputReceiver(dict(receivers), receivers)


def summary_images(*images):
    """Returns uint8 images for a TensorBoard summary: the given batches side by side."""
    return generative_images.to_uint8(tf.concat(images, axis=2))


def evaluation_latents(batch_size, params):
    """Returns [batch_size, latent_dim] normal latent vectors, the same in every evaluation."""
    return tf.random.normal([batch_size, params['latent_dim']], seed=EVAL_LATENT_SEED)
