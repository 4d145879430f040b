"""The TFRecord schema written by convert_dataset.py (TF-slim / Object Detection keys)."""
import tensorflow as tf

ENCODED = 'image/encoded'
FORMAT = 'image/format'
HEIGHT = 'image/height'
WIDTH = 'image/width'
CHANNELS = 'image/channels'
LABEL = 'image/class/label'
TEXT = 'image/class/text'
FILENAME = 'image/filename'

# Older records carry these keys instead (`label` optional).
LEGACY_ENCODED = 'image'
LEGACY_HEIGHT = 'height'
LEGACY_WIDTH = 'width'
LEGACY_CHANNELS = 'channels'
LEGACY_LABEL = 'label'

UNLABELLED = -1


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int64(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def image_example(encoded, image_format, height, width, channels,
                  label=UNLABELLED, text='', filename=''):
    """Returns a tf.train.Example holding one encoded image and its label."""
    return tf.train.Example(features=tf.train.Features(feature={
        ENCODED: _bytes(encoded),
        FORMAT: _bytes(image_format.encode()),
        HEIGHT: _int64(height),
        WIDTH: _int64(width),
        CHANNELS: _int64(channels),
        LABEL: _int64(label),
        TEXT: _bytes(text.encode()),
        FILENAME: _bytes(filename.encode()),
    }))
