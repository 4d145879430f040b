"""The model_fn shared by the autoencoder and the VAE: encoder, decoder, reconstruction.

The model module hands over its encoder and decoder networks (project/models/)
and how the encoder output becomes a latent code. Evaluation writes, besides
the sample grid and interpolation of decoded fixed latent vectors, a
'reconstructions' grid: the first evaluation images above their
reconstructions. The VAE's evaluation also compares images decoded from
latent vectors of its prior with the held-out ones: swd and swd_<N>px, the
multi-scale sliced Wasserstein distance the GANs report
(library/generative/sliced_wasserstein.py), which the reconstruction error cannot tell.
"""
import tensorflow as tf

from library import optimization
from library.config import ConfigError
from library.generative import images as generative_images
from library.generative import sliced_wasserstein
from library.generative import spec as generative_spec

RECONSTRUCTION_LOSSES = {
    'mse': lambda images, reconstructions: tf.square(reconstructions - images),
    'l1': lambda images, reconstructions: tf.abs(reconstructions - images),
}
SUMMARY_IMAGES = 4


def pixel_losses(images, reconstructions, params):
    """Returns the per-pixel reconstruction loss named by params['reconstruction_loss']."""
    kind = params['reconstruction_loss']
    if kind not in RECONSTRUCTION_LOSSES:
        raise ConfigError('hyperparameter reconstruction_loss must be one of %s, got %r' % (
            ', '.join(sorted(RECONSTRUCTION_LOSSES)), kind))
    return RECONSTRUCTION_LOSSES[kind](images, reconstructions)


def autoencoding_model_fn(features, labels, mode, params, encoder, decoder, encoder_outputs,
                          latent_code):
    """Returns the EstimatorSpec of an autoencoder (variational when latent_code gives a KL).

    encoder(images, labels or None, params, training, outputs) -> [batch, outputs] and
    decoder(latents, labels or None, params, training) -> images in [-1, 1] are the
    networks. The encoder emits `encoder_outputs` numbers per image; latent_code(encoded,
    training) returns (latent vectors, KL divergence per image or None). Without
    a KL the loss is reconstruction_error, the mean per-pixel loss; with one it
    is the negative ELBO with a beta-weighted KL: per-image summed pixel loss
    + beta * KL, averaged over the batch.
    """
    generative_spec.check_params(params)
    training = mode == tf.estimator.ModeKeys.TRAIN

    def decode(latents, condition, is_training=False):
        return decoder(latents, condition, params, is_training)

    if mode == tf.estimator.ModeKeys.PREDICT:
        return generative_spec.predict_spec(features, params, decode)

    condition = generative_spec.conditioning(labels, params)
    images = features['image']
    encoded = encoder(images, condition, params, training, encoder_outputs)
    latents, kl = latent_code(encoded, training)
    reconstructions = decode(latents, condition, training)
    losses = pixel_losses(images, reconstructions, params)
    terms = {'reconstruction_error': tf.reduce_mean(losses)}
    if kl is None:
        loss = terms['reconstruction_error']
    else:
        image_losses = tf.reduce_sum(losses, axis=[1, 2, 3])
        terms['kl'] = tf.reduce_mean(kl)
        terms['elbo'] = -tf.reduce_mean(image_losses + kl)
        loss = tf.reduce_mean(image_losses) + params['beta'] * terms['kl']

    if training:
        for name, value in terms.items():
            tf.compat.v1.summary.scalar(name, value)
        tf.compat.v1.summary.image('inputs_and_reconstructions', generative_spec.summary_images(
            images[:SUMMARY_IMAGES], reconstructions[:SUMMARY_IMAGES]),
            max_outputs=SUMMARY_IMAGES)
        rate = optimization.learning_rate(params)
        train_op = optimization.minimize(
            loss, tf.compat.v1.trainable_variables(), optimization.make_optimizer(params, rate),
            params, update_ops=tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS))
        return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

    metrics = {name: tf.compat.v1.metrics.mean(value) for name, value in terms.items()}
    if kl is not None:
        prior_samples = decode(generative_spec.evaluation_latents(tf.shape(images)[0], params), condition)
        metrics.update(sliced_wasserstein.metrics(images, prior_samples))
    shown = tf.minimum(tf.shape(images)[0], params['sample_grid_size'])
    first_batch = {'reconstructions': (
        tf.concat([images[:shown], reconstructions[:shown]], axis=0), 2)}
    hook = generative_images.SampleImagesHook(
        generative_images.samples_dir(params),
        generative_images.fixed_sample_tensors(params, decode), first_batch)
    return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics,
                                      evaluation_hooks=[hook])
