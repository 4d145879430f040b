"""The Keras way of feeding images: tf.keras.utils.image_dataset_from_directory on the JPEG folder.

Its default path reads each file, decodes the whole JPEG, resizes it to 224x224 (bilinear,
no crop, so no augmentation at all) in a parallel map, shuffles the decoded images in a
buffer of 8 batches, batches and prefetches. Because that buffer refills at every epoch
start, the dataset is timed over whole epochs, the way Keras `fit` iterates it.
"""
import math

from benchmarks import common

TITLE = 'Keras: image_dataset_from_directory (decode + resize, no random crop)'
KEY = 'keras.image_dataset_from_directory'


def keras_dataset(context):
    """Returns the batched dataset (one epoch) a Keras user would build for this folder."""
    import tensorflow as tf
    return tf.keras.utils.image_dataset_from_directory(
        context.images_dir,
        labels='inferred' if common.has_class_folders(context.images_dir) else None,
        image_size=(context.crop_size, context.crop_size), batch_size=context.batch_size,
        shuffle=True, seed=0)


def run(context):
    import tensorflow as tf
    dataset = keras_dataset(context)
    images_wanted = context.batches(10, 20) * context.batch_size
    epochs = max(1, math.ceil(images_wanted / context.image_count))

    def whole_epochs():
        return sum(int(tf.nest.flatten(batch)[0].shape[0])
                   for _ in range(epochs) for batch in dataset)

    measurement = common.measure(KEY, 'Keras image_dataset_from_directory', whole_epochs,
                                 amount=None, repeats=context.repeats)
    return [common.rate_table(TITLE, [measurement], notes=[
        'Reads the %d image files directly; each run times %d whole epoch(s) after one untimed '
        'epoch; prefetch AUTOTUNE; images come out as float32 0..255 (no rescaling).' % (
            context.image_count, epochs)])]
