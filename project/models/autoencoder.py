"""Convolutional autoencoder: images -> latent_dim numbers -> images.

Encoder and decoder: project/models/conv_nets.py. Loss and evaluation metric:
reconstruction_error, the mean per-pixel reconstruction loss (hyperparameter
reconstruction_loss: mse or l1, on pixels in [-1, 1]). The latent space is not
regularised, so the sample grid (decoded standard-normal vectors) shows only
what the decoder makes of such vectors; the VAE is the model to sample from.
"""
from library.generative import autoencoding
from library.generative import spec as generative_spec
from library.recipe import ModelSpec
from project.models import conv_nets


def latent_code(encoded, training):
    """The code is the encoder output itself; there is no KL term."""
    return encoded, None


def model_fn(features, labels, mode, params):
    """Returns the autoencoder EstimatorSpec."""
    return autoencoding.autoencoding_model_fn(
        features, labels, mode, params, conv_nets.encoder, conv_nets.decoder,
        params['latent_dim'], latent_code)


MODEL = ModelSpec(model_fn=model_fn, requires_classes=False, generates_images=True,
                  serving_input_fn=generative_spec.serving_input_receiver_fn)
