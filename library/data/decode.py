"""Decoding an encoded image, or only a window of it, to uint8 pixels with a fixed number of channels."""
import tensorflow as tf

DCT_RATIOS = (1, 2, 4, 8)
RESIZE_METHODS = ('bilinear', 'nearest', 'bicubic', 'area', 'lanczos3', 'lanczos5',
                  'gaussian', 'mitchellcubic')


def dct_ratio_index(window, side):
    """Index into DCT_RATIOS of the largest reduced JPEG scale that keeps the window's shorter side >= `side`."""
    shorter = tf.reduce_min(window[2:])
    return tf.reduce_sum(tf.cast(shorter >= [ratio * side for ratio in DCT_RATIOS[1:]], tf.int32))


def decode_jpeg_window(encoded, window, channels, side):
    """Decodes only `window` ([y, x, height, width]) of a JPEG, at 1/2, 1/4 or 1/8 scale when the
    window is that much larger than `side`.

    At ratio r, decode_and_crop_jpeg takes the window in the scaled image's
    coordinates: the full-size window divided by r.
    """
    def at_ratio(ratio):
        return lambda: tf.io.decode_and_crop_jpeg(encoded, window // ratio, channels=channels, ratio=ratio)
    return tf.switch_case(dct_ratio_index(window, side), [at_ratio(ratio) for ratio in DCT_RATIOS])


def decode_any(encoded, channels):
    """Decodes a JPEG, PNG, GIF (first frame) or BMP into uint8 with exactly `channels` (1 or 3) channels."""
    image = tf.io.decode_image(encoded, channels=0, expand_animations=False)
    present = tf.shape(image)[-1]
    if channels == 1:
        image = tf.cond(present >= 3,
                        lambda: tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(image[..., :3], tf.float32))),
                                        tf.uint8),
                        lambda: image[..., :1])
    else:
        image = tf.cond(present >= 3, lambda: image[..., :3], lambda: tf.tile(image[..., :1], [1, 1, 3]))
    image.set_shape([None, None, channels])
    return image


def crop(image, window):
    """Returns the [y, x, height, width] `window` of a decoded image."""
    return tf.slice(image, [window[0], window[1], 0], [window[2], window[3], -1])


def decode_window(encoded, window_fn, channels, side):
    """Decodes the window `window_fn(height_and_width)` of an encoded image (uint8).

    A JPEG decodes only that window, at a reduced DCT scale when the window is
    at least twice `side` (the size it will be resized to); other formats
    decode whole and are cropped.
    """
    def jpeg():
        window = window_fn(tf.io.extract_jpeg_shape(encoded)[:2])
        return decode_jpeg_window(encoded, window, channels, side)

    def other():
        image = decode_any(encoded, channels)
        return crop(image, window_fn(tf.shape(image)[:2]))

    image = tf.cond(tf.io.is_jpeg(encoded), jpeg, other)
    image.set_shape([None, None, channels])
    return image


def resize(image, size, method):
    """Returns `image` resized to `size` x `size` with `method`, float32 in [0, 255]."""
    return tf.cast(tf.image.resize(image, [size, size], method=method), tf.float32)


def shrink(image, shorter_side, method):
    """Returns uint8 `image` with its shorter side brought down to `shorter_side` (never enlarged)."""
    shape = tf.shape(image)[:2]
    scale = tf.minimum(1.0, shorter_side / tf.cast(tf.reduce_min(shape), tf.float32))
    size = tf.maximum(1, tf.cast(tf.round(tf.cast(shape, tf.float32) * scale), tf.int32))
    channels = image.shape[-1]

    def smaller():
        resized = tf.image.resize(image, size, method=method)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
    resized = tf.cond(scale < 1.0, smaller, lambda: image)
    resized.set_shape([None, None, channels])
    return resized
