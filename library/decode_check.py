"""Checks that TensorFlow's own decoders read the bytes a conversion stores unchanged.

Only passthrough bytes (a source file stored byte-for-byte) are checked:
Pillow accepted their header, but the training input decodes them with
TensorFlow, which may reject what Pillow tolerates (a truncated JPEG, a
corrupt PNG chunk). Bytes that Pillow encoded itself are baseline JPEG or
8-bit PNG, which TensorFlow always decodes, so checking them would only
spend time.
"""
import re

import tensorflow as tf

from library.image_files import encode_file

JPEG_CHECK_RATIO = 8
PARALLEL_DECODES = 8


def decode_problem(error):
    """Returns the first line of a TensorFlow decode error, without its op annotations."""
    message = re.sub(r'\{\{.*?\}\}|\[Op:\w+\]', '', error.message).strip()
    return 'TensorFlow cannot decode it: %s' % message.splitlines()[0]


def expected_decoded_shape(result):
    """Returns the [height, width, channels] TensorFlow's check decodes `result` to (JPEGs at 1/8 scale)."""
    if result.image_format == 'jpeg':
        return [-(-result.height // JPEG_CHECK_RATIO), -(-result.width // JPEG_CHECK_RATIO), result.channels]
    return [result.height, result.width, result.channels]


@tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.bool)])
def decoded_shapes(data, is_jpeg):
    """Decodes every image of a chunk with TensorFlow's own decoders; returns their [N, 3] shapes.

    JPEGs are decoded at 1/8 scale: libjpeg still entropy-decodes every block
    (so corrupt or truncated data fails just the same) but skips most of the
    inverse DCT. One call per chunk keeps the per-image cost in C++.
    """
    def shape_of(encoded_and_jpeg):
        encoded, jpeg = encoded_and_jpeg
        return tf.cond(jpeg, lambda: tf.shape(tf.io.decode_jpeg(encoded, ratio=JPEG_CHECK_RATIO)),
                       lambda: tf.shape(tf.io.decode_png(encoded)))
    return tf.map_fn(shape_of, (data, is_jpeg), fn_output_signature=tf.TensorSpec([3], tf.int32),
                     parallel_iterations=PARALLEL_DECODES)


def tensorflow_decode_errors(results):
    """Returns, for each Encoded result, why TensorFlow cannot decode it to its stated shape, or None."""
    try:
        shapes = decoded_shapes(tf.constant([result.data for result in results], tf.string),
                                tf.constant([result.image_format == 'jpeg' for result in results])).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        if len(results) == 1:
            return [decode_problem(error)]
        return [reason for result in results for reason in tensorflow_decode_errors([result])]
    reasons = []
    for result, shape in zip(results, shapes.tolist()):
        expected = expected_decoded_shape(result)
        reasons.append(None if shape == expected else
                       'TensorFlow decodes it to shape %s instead of %s' % (shape, expected))
    return reasons


def checked_results(results, options):
    """Returns `results` once TensorFlow decodes their passthrough bytes, re-encoding any it rejects.

    The re-encoded copy is Pillow's own output, so it is stored without a
    second check; a file Pillow cannot decode either is skipped with Pillow's reason.
    """
    to_check = [index for index, result in enumerate(results)
                if result.passthrough and not result.skip_reason]
    checked = list(results)
    reasons = tensorflow_decode_errors([results[index] for index in to_check]) if to_check else []
    for index, reason in zip(to_check, reasons):
        if reason:
            checked[index] = encode_file(results[index].data, options, force_reencode=True)
    return checked
