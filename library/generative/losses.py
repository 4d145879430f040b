"""The losses of the generative models: non-saturating GAN, WGAN-GP critic and generator, Gaussian KL.

A GAN's discriminator_losses(discriminate, real, fake, real_scores, fake_scores)
returns (discriminator loss, {metric name: scalar}), the loss among the metrics;
its generator_loss(fake_scores) returns the generator's loss. Scores are logits
or unbounded critic scores (no sigmoid).
"""
import tensorflow as tf


def sigmoid_cross_entropy(logits, target):
    """Mean sigmoid cross-entropy of `logits` against the constant label `target`."""
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.fill(tf.shape(logits), float(target)), logits=logits))


def non_saturating_discriminator_losses(real_label):
    """Returns the DCGAN discriminator_losses: real images labelled `real_label`, generated 0.

    A `real_label` below 1 is one-sided label smoothing (Salimans et al., 2016),
    which keeps the discriminator from growing overconfident.
    """
    def losses(discriminate, real, fake, real_logits, fake_logits):
        loss = sigmoid_cross_entropy(real_logits, real_label) + sigmoid_cross_entropy(fake_logits, 0.0)
        return loss, {'discriminator_loss': loss,
                      'real_score': tf.reduce_mean(tf.sigmoid(real_logits)),
                      'fake_score': tf.reduce_mean(tf.sigmoid(fake_logits))}
    return losses


def non_saturating_generator_loss(fake_logits):
    """Non-saturating generator loss: -log D(G(z))."""
    return sigmoid_cross_entropy(fake_logits, 1.0)


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


def wasserstein_critic_losses(gp_lambda):
    """Returns the WGAN-GP discriminator_losses: D(fake) - D(real) + gp_lambda * gradient penalty."""
    def losses(critic, real, fake, real_scores, fake_scores):
        wasserstein_estimate = tf.reduce_mean(real_scores) - tf.reduce_mean(fake_scores)
        penalty = gradient_penalty(critic, real, fake)
        loss = -wasserstein_estimate + gp_lambda * penalty
        return loss, {'critic_loss': loss, 'wasserstein_estimate': wasserstein_estimate,
                      'gradient_penalty': penalty}
    return losses


def wasserstein_generator_loss(fake_scores):
    """WGAN generator loss: minus the mean critic score of generated images."""
    return -tf.reduce_mean(fake_scores)


def gaussian_kl(mean, log_variance):
    """Returns KL(N(mean, exp(log_variance)) || N(0, I)) per example, summed over dimensions."""
    return 0.5 * tf.reduce_sum(
        tf.exp(log_variance) + tf.square(mean) - 1.0 - log_variance, axis=-1)
