"""Image folders as train_files/eval_files: training without converting to TFRecords.

A folder is read exactly as convert_dataset.py reads it (library.convert_sources):
class sub-folders in sorted order give labels 0, 1, ... (nested folders belong to
their class), a folder without sub-folders is unlabelled (label -1), hidden files
and conversion outputs are left out. So a model trained from a folder and one
trained from its conversion see the same labels.
"""
import collections
import os

import tensorflow as tf

from library import convert_sources, dataset_info
from library.config import ConfigError

Listing = collections.namedtuple('Listing', 'paths labels classes skipped')


def is_image_folder(value):
    """Whether a train_files/eval_files value names one folder (not TFRecord patterns)."""
    value = str(value or '').strip()
    return bool(value) and ',' not in value and tf.io.gfile.isdir(value)


def sub_folders(folder):
    """Returns the class sub-folders of `folder` as the converter sees them."""
    return convert_sources.list_folder(folder, set())[1]


def listing(folder, key, known_classes=None):
    """Returns the Listing (image paths, labels, class names, skipped) of image folder `folder`.

    `known_classes` (the class names a model was trained on) give the labels
    when they include every sub-folder, so an evaluation folder that lacks a
    class still lines up with training; otherwise the sub-folders' sorted order does.
    """
    try:
        folders = sub_folders(folder)
        classes = (list(known_classes) if known_classes and folders
                   and set(folders) <= set(known_classes) else None)
        inputs = convert_sources.folder_inputs(folder, classes, unlabelled=False, excluded_paths=set())
    except ConfigError as error:
        raise ConfigError(str(error).replace('--dataset_dir', key, 1)) from None
    if not inputs.items:
        raise ConfigError('%s: no image files in folder %s (for TFRecord shards give a pattern such as %s)' % (
            key, folder, os.path.join(folder, '*.tfrecord')))
    return Listing([item.path for item in inputs.items], [item.label for item in inputs.items],
                   list(inputs.classes), inputs.skipped)


def class_counts(labels, num_classes):
    """Returns the number of images of each class 0..num_classes-1."""
    counts = [0] * num_classes
    for label in labels:
        counts[label] += 1
    return counts


def folder_info(folder):
    """Returns the dataset description of an image folder, like a converted set's <name>.json (None: no images)."""
    try:
        found = listing(folder, 'train_files/eval_files')
    except ConfigError:
        if not convert_sources.files_below(folder, set()).paths:
            return None
        raise
    info = {'name': os.path.basename(folder.rstrip('/')), 'count': len(found.paths),
            'classes': found.classes, 'skipped': found.skipped, 'image_folder': folder}
    if found.classes:
        info['class_counts'] = class_counts(found.labels, len(found.classes))
    return info


def describe(files):
    """Returns the description of train_files/eval_files: an image folder's listing or the shards' <name>.json.

    None when the folder holds no images or the shards have no <name>.json.
    """
    if is_image_folder(files):
        return folder_info(files.strip())
    return dataset_info.load(files)


def balanced_count(info):
    """Returns the examples in one balance_classes epoch: every class at the size of the largest."""
    counts = info.get('class_counts') or []
    return len(counts) * max(counts) if counts else info['count']
