"""Variational autoencoder (Kingma and Welling, 2014) with a beta-weighted KL term.

The encoder gives the mean and log-variance of a diagonal Gaussian posterior
q(z|x); z = mean + exp(log_variance / 2) * noise (reparameterisation); the
prior is N(0, I). Loss: per-image summed reconstruction loss (mse or l1 on
pixels in [-1, 1], a Gaussian or Laplace log-likelihood up to constants) +
beta * KL(q(z|x) || N(0, I)), averaged over the batch. Evaluation metrics:
reconstruction_error (mean per-pixel loss, which the best snapshot
minimises), kl (per image), elbo (minus the loss at beta = 1, up to the
likelihood's constants), and swd with swd_<N>px, how far images decoded from
prior samples are from the held-out ones (project/generative_autoencoding.py).
Evaluation draws its noise from a fixed seed.
"""
import tensorflow as tf

from library.generative import spec as generative_spec
from library.recipe import ModelSpec
from project import generative_autoencoding

EVAL_NOISE_SEED = 11


def gaussian_kl(mean, log_variance):
    """Returns KL(N(mean, exp(log_variance)) || N(0, I)) per example, summed over dimensions."""
    return 0.5 * tf.reduce_sum(
        tf.exp(log_variance) + tf.square(mean) - 1.0 - log_variance, axis=-1)


def latent_code(encoded, training):
    """Splits the encoder output into mean and log-variance; returns (sampled z, KL)."""
    mean, log_variance = tf.split(encoded, 2, axis=-1)
    noise = tf.random.normal(tf.shape(mean), seed=None if training else EVAL_NOISE_SEED)
    return mean + tf.exp(0.5 * log_variance) * noise, gaussian_kl(mean, log_variance)


def model_fn(features, labels, mode, params):
    """Returns the VAE EstimatorSpec."""
    return generative_autoencoding.autoencoding_model_fn(
        features, labels, mode, params, 2 * params['latent_dim'], latent_code)


MODEL = ModelSpec(model_fn=model_fn, requires_classes=False, generates_images=True,
                  serving_input_fn=generative_spec.serving_input_receiver_fn)
