"""WGAN-GP: Wasserstein GAN with gradient penalty (Gulrajani et al., 2017).

The critic is the DCGAN discriminator without a sigmoid (one unbounded score)
and with layer norm instead of batch norm: the penalty is per example, which
batch norm would break. Critic loss: D(fake) - D(real) + gp_lambda * GP on
random interpolates of real and generated images; generator loss: -D(fake)
(library/generative/losses.py). One step is one critic update; every
n_critic-th step also updates the generator (library/generative/gan.py).
Evaluation adds wasserstein_estimate and gradient_penalty to swd.
"""
from library.generative import gan, losses
from library.generative import spec as generative_spec
from library.recipe import ModelSpec
from project.models import conv_nets

CRITIC_SCOPE = 'critic'


def model_fn(features, labels, mode, params):
    """Returns the WGAN-GP EstimatorSpec."""
    return gan.gan_model_fn(
        features, labels, mode, params, conv_nets.gan_networks(CRITIC_SCOPE, 'layer'),
        discriminator_losses=losses.wasserstein_critic_losses(params['gp_lambda']),
        generator_loss=losses.wasserstein_generator_loss, discriminator_steps=params['n_critic'])


MODEL = ModelSpec(model_fn=model_fn, requires_classes=False, generates_images=True,
                  serving_input_fn=generative_spec.serving_input_receiver_fn)
