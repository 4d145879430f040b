"""WGAN-GP: Wasserstein GAN with gradient penalty (Gulrajani et al., 2017).

The critic is the DCGAN discriminator without a sigmoid (one unbounded score)
and with layer norm instead of batch norm (the penalty is per example, which
batch norm would break). Critic loss: D(fake) - D(real) + gp_lambda * GP, where
GP = E[(||grad_x D(x)||_2 - 1)^2] on random interpolates x between real and
generated images; generator loss: -D(fake). Critic and generator each have
their own Adam optimizer over the variables of their own scope (critic/,
generator/). One Estimator step = one critic update on a fresh real batch;
every n_critic-th step also updates the generator, so the global step counts
critic updates and the generator has made global_step // n_critic updates
(times generator_updates, 1 by default; see project/gan_model.py).

Evaluation reports, on held-out real images and as many generated ones:
wasserstein_estimate (mean critic score of real minus generated images, the
critic's estimate of the Wasserstein distance), gradient_penalty, critic_loss,
generator_loss and the multi-scale sliced Wasserstein distance swd with its
levels swd_<N>px (project/sliced_wasserstein.py). Best snapshot (the wgan_gp
config sets): the smallest swd. Not the wasserstein_estimate: each
checkpoint's estimate comes from its own critic, and where the critic keeps
getting stronger (the 1,500 demo shapes) it rises over the run, so its
smallest value marks an early, poor checkpoint (README).
"""
import tensorflow as tf

from library.generative import spec as generative_spec
from library.recipe import ModelSpec
from project import gan_model

CRITIC_SCOPE = 'critic'


def gradient_penalty(critic, real, fake, epsilon=None):
    """Returns E[(||d critic(x) / dx||_2 - 1)^2] over x = real + epsilon * (fake - real).

    `epsilon` defaults to one uniform [0, 1) draw per example.
    """
    if epsilon is None:
        epsilon = tf.random.uniform([tf.shape(real)[0], 1, 1, 1])
    interpolates = real + epsilon * (fake - real)
    gradients = tf.gradients(critic(interpolates), interpolates)[0]
    norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3]) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


def critic_losses(params):
    """Returns the discriminator_losses function of gan_model_fn for the critic."""

    def losses(critic, real, fake, real_scores, fake_scores):
        wasserstein_estimate = tf.reduce_mean(real_scores) - tf.reduce_mean(fake_scores)
        penalty = gradient_penalty(critic, real, fake)
        loss = -wasserstein_estimate + params['gp_lambda'] * penalty
        return loss, {'critic_loss': loss, 'wasserstein_estimate': wasserstein_estimate,
                      'gradient_penalty': penalty}
    return losses


def generator_loss(fake_scores):
    """Generator loss: minus the mean critic score of generated images."""
    return -tf.reduce_mean(fake_scores)


def model_fn(features, labels, mode, params):
    """Returns the WGAN-GP EstimatorSpec."""
    return gan_model.gan_model_fn(
        features, labels, mode, params, discriminator_scope=CRITIC_SCOPE,
        normalization='layer', discriminator_losses=critic_losses(params),
        generator_loss=generator_loss, discriminator_steps=params['n_critic'])


MODEL = ModelSpec(model_fn=model_fn, requires_classes=False, generates_images=True,
                  serving_input_fn=generative_spec.serving_input_receiver_fn)
