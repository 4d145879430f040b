"""The recipe of one example: which window of the image, how it is resized, flipped and colour-jittered.

Training follows the Inception/ResNet recipe: a random window covering
`area_range` of the image with an aspect ratio in `aspect_range`, resized to
`image_size`, mirrored at random. Evaluation (and serving) takes the central
square keeping `crop_fraction` of the shorter side. Outputs are float32
[image_size, image_size, channels] pixels in [0, 255]; the model_fn maps them
to [-1, 1]. Change the augmentation here.
"""
import tensorflow as tf

from library.data import decode

CROP, FLIP, COLOUR = 0, 1, 2  # what each seed derived from an example's seed is for


def central_window(shape, crop_fraction):
    """Returns [y, x, height, width] of the central square keeping `crop_fraction` of the shorter side."""
    side = tf.maximum(1, tf.cast(crop_fraction * tf.cast(tf.reduce_min(shape), tf.float32), tf.int32))
    return tf.concat([(shape - side) // 2, [side, side]], axis=0)


def distorted_window(shape, seed, area_range, aspect_range, max_attempts, crop_fraction):
    """Returns a random [y, x, height, width] window (Inception-style), or the central one when sampling fails."""
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.concat([shape, [1]], axis=0),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=aspect_range,
        area_range=area_range,
        max_attempts=max_attempts,
        use_image_if_no_bounding_boxes=True)
    failed = tf.reduce_all(tf.equal(size[:2], shape))
    return tf.where(failed, central_window(shape, crop_fraction), tf.concat([begin[:2], size[:2]], axis=0))


def color_jitter(image, seed, channels):
    """Random brightness, contrast (and for colour images saturation and hue) of float32 pixels in [0, 255]."""
    brightness, contrast, saturation, hue = tf.unstack(tf.random.experimental.stateless_split(seed, num=4))
    image = image / 255.0
    image = tf.image.stateless_random_brightness(image, 32.0 / 255.0, seed=brightness)
    image = tf.image.stateless_random_contrast(image, 0.5, 1.5, seed=contrast)
    if channels == 3:
        image = tf.image.stateless_random_saturation(image, 0.5, 1.5, seed=saturation)
        image = tf.image.stateless_random_hue(image, 0.2, seed=hue)
    return tf.clip_by_value(image, 0.0, 1.0) * 255.0


def preprocess_for_train(image, seed, image_size, channels, resize_method='bilinear', area_range=(0.08, 1.0),
                         aspect_range=(0.75, 1.33), max_attempts=10, crop_fraction=0.875, random_flip=True,
                         jitter=False):
    """Returns the training example of `image` drawn with the stateless `seed` (int64 [2]).

    `image` is an encoded image (a JPEG decodes only the window, at a reduced
    DCT scale when the window is large) or decoded uint8 pixels (from a cache).
    The flip mirrors the resized output, which for photos larger than
    `image_size` has fewer pixels than the window.
    """
    def window(shape):
        return distorted_window(shape, tf.random.experimental.stateless_fold_in(seed, CROP), area_range,
                                aspect_range, max_attempts, crop_fraction)
    if image.dtype == tf.string:
        pixels = decode.decode_window(image, window, channels, image_size)
    else:
        pixels = decode.crop(image, window(tf.shape(image)[:2]))
    pixels = decode.resize(pixels, image_size, resize_method)
    if random_flip:
        pixels = tf.image.stateless_random_flip_left_right(
            pixels, tf.random.experimental.stateless_fold_in(seed, FLIP))
    if jitter:
        pixels = color_jitter(pixels, tf.random.experimental.stateless_fold_in(seed, COLOUR), channels)
    return pixels


def preprocess_for_eval(encoded, image_size, channels, resize_method='bilinear', crop_fraction=0.875):
    """Returns the central window of an encoded image, resized: what evaluation and serving see."""
    pixels = decode.decode_window(encoded, lambda shape: central_window(shape, crop_fraction), channels,
                                  image_size)
    return decode.resize(pixels, image_size, resize_method)
