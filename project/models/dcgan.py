"""DCGAN (Radford et al., 2016) with the non-saturating loss; optionally class-conditional.

Generator: dense -> reshape -> transposed convolutions with batch norm and
ReLU, tanh output. Discriminator: strided convolutions, leaky ReLU 0.2, batch
norm on every layer but the first, one logit. With `conditional: true` the
class label enters the generator (one-hot next to the latent vector) and the
sample grid has one row per class; with auxiliary_classifier_weight above 0
(1 in the dcgan sets) the discriminator also outputs class logits and learns
to classify real images, and the generator to draw images it classifies as
their label (AC-GAN, Odena et al., 2017; see project/gan_model.py), the label
entering the discriminator's score by projection; with 0 it enters the
discriminator as one-hot feature maps next to the image.
The discriminator learns real images with one-sided label smoothing (target
REAL_LABEL = 0.9, Salimans et al., 2016), which keeps it from growing
overconfident. One Estimator step = one discriminator update and
generator_updates generator updates (see project/gan_model.py); the
discriminator can also see every input through differentiable augmentation
(gan_augment, project/gan_augment.py), which keeps it from memorising a small
training set.

Evaluation reports, on held-out real images and as many generated ones:
discriminator_loss, generator_loss, real_score and fake_score (mean
discriminator probabilities), the multi-scale sliced Wasserstein distance swd
and its levels swd_<N>px (project/sliced_wasserstein.py), and with the
auxiliary classifier real_class_accuracy, fake_class_accuracy, real_class_loss
and fake_class_loss. Best snapshot (the dcgan config sets): the smallest swd.
The discriminator_loss judges each checkpoint with its own discriminator, so
it is not comparable across a run (on the demo shapes its largest value marked
the first, still noisy evaluation); also look at the sample grids.
"""
import tensorflow as tf

from library.generative import spec as generative_spec
from library.recipe import ModelSpec
from project import gan_model

DISCRIMINATOR_SCOPE = 'discriminator'
REAL_LABEL = 0.9


def sigmoid_cross_entropy(logits, target):
    """Mean sigmoid cross-entropy of `logits` against the constant label `target`."""
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.fill(tf.shape(logits), float(target)), logits=logits))


def discriminator_losses(discriminate, real, fake, real_logits, fake_logits):
    """Returns (discriminator loss, metric terms): real images labelled REAL_LABEL, generated 0."""
    loss = sigmoid_cross_entropy(real_logits, REAL_LABEL) + sigmoid_cross_entropy(fake_logits, 0.0)
    return loss, {'discriminator_loss': loss,
                  'real_score': tf.reduce_mean(tf.sigmoid(real_logits)),
                  'fake_score': tf.reduce_mean(tf.sigmoid(fake_logits))}


def generator_loss(fake_logits):
    """Non-saturating generator loss: -log D(G(z))."""
    return sigmoid_cross_entropy(fake_logits, 1.0)


def model_fn(features, labels, mode, params):
    """Returns the DCGAN EstimatorSpec."""
    return gan_model.gan_model_fn(
        features, labels, mode, params, discriminator_scope=DISCRIMINATOR_SCOPE,
        normalization='batch', discriminator_losses=discriminator_losses,
        generator_loss=generator_loss, discriminator_steps=1)


MODEL = ModelSpec(model_fn=model_fn, requires_classes=False, generates_images=True,
                  serving_input_fn=generative_spec.serving_input_receiver_fn)
