"""DCGAN (Radford et al., 2016) with the non-saturating loss; optionally class-conditional.

Generator and discriminator: project/models/conv_nets.py (the discriminator
with batch norm on every layer but the first, one logit). The discriminator
learns real images with one-sided label smoothing (target REAL_LABEL, Salimans
et al., 2016), which keeps it from growing overconfident. With `conditional:
true` the label enters the generator one-hot and, with
auxiliary_classifier_weight above 0, the discriminator also learns to classify
(AC-GAN). The training steps, the augmentation and the evaluation metrics
(real_score, fake_score, swd, ...) are library/generative/gan.py.
"""
from library.generative import gan, losses
from library.generative import spec as generative_spec
from library.recipe import ModelSpec
from project.models import conv_nets

DISCRIMINATOR_SCOPE = 'discriminator'
REAL_LABEL = 0.9


def model_fn(features, labels, mode, params):
    """Returns the DCGAN EstimatorSpec: one discriminator update per step."""
    return gan.gan_model_fn(
        features, labels, mode, params, conv_nets.gan_networks(DISCRIMINATOR_SCOPE, 'batch'),
        discriminator_losses=losses.non_saturating_discriminator_losses(REAL_LABEL),
        generator_loss=losses.non_saturating_generator_loss, discriminator_steps=1)


MODEL = ModelSpec(model_fn=model_fn, requires_classes=False, generates_images=True,
                  serving_input_fn=generative_spec.serving_input_receiver_fn)
