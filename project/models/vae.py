"""Variational autoencoder (Kingma and Welling, 2014) with a beta-weighted KL term.

The encoder (project/models/conv_nets.py) gives the mean and log-variance of a
diagonal Gaussian posterior q(z|x); z = mean + exp(log_variance / 2) * noise
(reparameterisation); the prior is N(0, I). Loss: per-image summed
reconstruction loss + beta * KL(q(z|x) || N(0, I)), averaged over the batch
(library/generative/autoencoding.py). Evaluation draws its noise from a fixed
seed, so every checkpoint is judged on the same latent vectors.
"""
import tensorflow as tf

from library.generative import autoencoding, losses
from library.generative import spec as generative_spec
from library.recipe import ModelSpec
from project.models import conv_nets

EVAL_NOISE_SEED = 11


def latent_code(encoded, training):
    """Splits the encoder output into mean and log-variance; returns (sampled z, KL)."""
    mean, log_variance = tf.split(encoded, 2, axis=-1)
    noise = tf.random.normal(tf.shape(mean), seed=None if training else EVAL_NOISE_SEED)
    return mean + tf.exp(0.5 * log_variance) * noise, losses.gaussian_kl(mean, log_variance)


def model_fn(features, labels, mode, params):
    """Returns the VAE EstimatorSpec."""
    return autoencoding.autoencoding_model_fn(
        features, labels, mode, params, conv_nets.encoder, conv_nets.decoder,
        2 * params['latent_dim'], latent_code)


MODEL = ModelSpec(model_fn=model_fn, requires_classes=False, generates_images=True,
                  serving_input_fn=generative_spec.serving_input_receiver_fn)
