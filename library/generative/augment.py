"""Differentiable augmentation of everything a GAN's discriminator sees in training.

With small data sets (a few thousand images) the discriminator soon tells
the training images from generated ones by memorising them, and the
generator gets no useful signal. Differentiable augmentation (Zhao et al.,
2020, "Differentiable Augmentation for Data-Efficient GAN Training")
transforms real AND generated images the same random way before every
discriminator call, including the generator's update, so the discriminator
cannot memorise and the generator's gradients pass through the transforms.
Each image gets its own random draw. Images are in [-1, 1].

Policies (hyperparameter `gan_augment`, a list, applied in this order):
- color: brightness shift in [-0.5, 0.5], saturation factor in [0, 2],
  contrast factor in [0.5, 1.5];
- translation: shift by up to 1/8 of the size in each direction, the
  uncovered border filled with 0 (mid-grey);
- cutout: one square of half the size, at a random place, set to 0.
"""
import tensorflow as tf

from library.config import ConfigError

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def uniform(images, low, high):
    """Returns one uniform draw in [low, high) per image, shaped [batch, 1, 1, 1]."""
    return tf.random.uniform([tf.shape(images)[0], 1, 1, 1], low, high)


def color(images):
    """Random brightness, saturation and contrast per image."""
    images = images + uniform(images, -0.5, 0.5)
    channel_mean = tf.reduce_mean(images, axis=3, keepdims=True)
    images = (images - channel_mean) * uniform(images, 0.0, 2.0) + channel_mean
    image_mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - image_mean) * uniform(images, 0.5, 1.5) + image_mean


def random_offsets(images, count):
    """Returns int32 [batch, 2]: a (row, column) per image, each in [0, count)."""
    return tf.random.uniform([tf.shape(images)[0], 2], 0, count, dtype=tf.int32)


def translation(images):
    """Shifts each image by up to TRANSLATION_RATIO of its size, filling with 0."""
    height, width = images.shape[1], images.shape[2]
    shift = max(1, int(round(min(height, width) * TRANSLATION_RATIO)))
    padded = tf.pad(images, [[0, 0], [shift, shift], [shift, shift], [0, 0]])
    offsets = random_offsets(images, 2 * shift + 1)
    rows = offsets[:, :1] + tf.range(height)[tf.newaxis]
    columns = offsets[:, 1:] + tf.range(width)[tf.newaxis]
    shifted = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(shifted, columns, axis=2, batch_dims=1)


def cutout(images):
    """Sets one square of CUTOUT_RATIO of the size, centred at a random pixel (so it may be cut by
    the border), to 0."""
    height, width = images.shape[1], images.shape[2]
    side = max(1, int(round(min(height, width) * CUTOUT_RATIO)))
    starts = random_offsets(images, min(height, width)) - side // 2

    def covered(length, start):
        offset = tf.range(length)[tf.newaxis] - start
        return tf.logical_and(offset >= 0, offset < side)
    rows, columns = covered(height, starts[:, :1]), covered(width, starts[:, 1:])
    inside = tf.logical_and(rows[:, :, tf.newaxis], columns[:, tf.newaxis, :])
    return images * tf.cast(tf.logical_not(inside), images.dtype)[..., tf.newaxis]


POLICIES = {'color': color, 'translation': translation, 'cutout': cutout}


def check_policies(policies):
    """Raises ConfigError unless `policies` is a list of names from POLICIES."""
    if not isinstance(policies, (list, tuple)) or any(name not in POLICIES for name in policies):
        raise ConfigError('gan_augment: expected a list of %s, got %r'
                          % ('/'.join(POLICIES), policies))


def augment(images, policies):
    """Returns `images` transformed by each policy in `policies`, in POLICIES order."""
    check_policies(policies)
    for name, transform in POLICIES.items():
        if name in policies:
            images = transform(images)
    return images
