"""Image-folder input (class sub-folders, listed as convert_dataset.py lists them) as examined elements."""
import tensorflow as tf

from library import image_folders
from library.config import ConfigError
from library.data import examine
from library.data.shards import worker_share


def check_folder_input(params, key):
    """Raises ConfigError for settings an image folder in `key` cannot serve."""
    if str(params['cache']) != 'none':
        raise ConfigError('cache: %r needs TFRecords but %s names the image folder %s; set cache to none '
                          'or convert the folder with convert_dataset.py' % (params['cache'], key, params[key]))


def file_pairs(paths, labels):
    return tf.data.Dataset.from_tensor_slices((list(paths), tf.constant(labels, tf.int32)))


def training_elements(params, input_context, shuffle_seed, epochs):
    """Returns the examined files of the image folder train_files, reshuffled every epoch.

    With balance_classes every class gives exactly as many images per epoch as
    the largest one: smaller classes cycle through their (reshuffled) files again.
    """
    found = image_folders.listing(params['train_files'].strip(), 'train_files')
    num_classes = params.get('num_classes')
    if not params['balance_classes']:
        paths, labels = zip(*worker_share(list(zip(found.paths, found.labels)), input_context))
        pairs = file_pairs(paths, labels).shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True)
        return examine.file_elements(pairs.repeat(epochs), len(paths), num_classes)
    if not found.classes:
        raise ConfigError('balance_classes: train_files folder %s has no class sub-folders to balance'
                          % params['train_files'])
    per_class = [worker_share([path for path, label in zip(found.paths, found.labels) if label == index],
                              input_context) for index in range(len(found.classes))]
    empty = [name for name, paths in zip(found.classes, per_class) if not paths]
    if empty:
        raise ConfigError('balance_classes: class folder(s) %s in train_files %s hold no images' % (
            ', '.join(empty), params['train_files']))
    largest = max(len(paths) for paths in per_class)
    classes = [file_pairs(paths, [index] * len(paths)).shuffle(
        len(paths), seed=shuffle_seed + index, reshuffle_each_iteration=True).repeat()
        for index, paths in enumerate(per_class)]
    per_epoch = largest * len(per_class)
    choices = tf.data.Dataset.range(len(per_class)).flat_map(
        lambda index: tf.data.Dataset.from_tensors(index).repeat(largest)).shuffle(
        per_epoch, seed=shuffle_seed, reshuffle_each_iteration=True).repeat(epochs)
    return examine.file_elements(tf.data.Dataset.choose_from_datasets(classes, choices), per_epoch, num_classes)


def evaluation_elements(params, key, input_context):
    """Returns the examined files of the image folder in config key `key`, in listing order.

    Labels follow the training classes (params['class_names']) when they include every sub-folder.
    """
    found = image_folders.listing(params[key].strip(), key, known_classes=params.get('class_names'))
    paths, labels = zip(*worker_share(list(zip(found.paths, found.labels)), input_context))
    return examine.file_elements(file_pairs(paths, labels), len(paths), params.get('num_classes'))
