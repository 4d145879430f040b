"""Finds what convert_dataset.py converts: image files with labels, or NumPy arrays.

Layouts: a folder of class sub-folders (the sub-folder is the class, nested
folders belong to it), a flat folder (or --unlabelled: label -1), or a
`.npz`/`.npy` file with `images` (N, H, W[, C]) uint8 and optional `labels`.
"""
import collections
import os

import numpy as np
import tensorflow as tf

from library import dataset_info
from library.config import ConfigError
from library.tfrecord_schema import UNLABELLED

NUMPY_SUFFIXES = ('.npz', '.npy')

InputItem = collections.namedtuple('InputItem', 'source path array label')
Inputs = collections.namedtuple('Inputs', 'items classes skipped')


def read_labels_file(path):
    """Returns the class names in label order from a `<name>.json` or a one-name-per-line file."""
    if not tf.io.gfile.exists(path):
        raise ConfigError('--labels_file %s: file not found' % path)
    if path.endswith('.json'):
        classes = dataset_info.read(path).get('classes')
        if not isinstance(classes, list) or not all(isinstance(name, str) for name in classes):
            raise ConfigError('--labels_file %s: expected "classes": a list of names' % path)
    else:
        with tf.io.gfile.GFile(path, 'r') as stream:
            classes = [line.strip() for line in stream if line.strip()]
    if not classes:
        raise ConfigError('--labels_file %s: no class names in it' % path)
    duplicates = sorted({name for name in classes if classes.count(name) > 1})
    if duplicates:
        raise ConfigError('--labels_file %s: class names listed twice: %s' % (
            path, ', '.join(duplicates)))
    return classes


def is_output_file(name, names_in_folder):
    """Whether `name` is a TFRecord shard or the json of a shard set (output of a conversion)."""
    if dataset_info.SHARD_NAME.match(name):
        return True
    if name.endswith('.json'):
        stem = name[:-len('.json')]
        return any(other.startswith(stem + '-') and dataset_info.SHARD_NAME.match(other)
                   for other in names_in_folder)
    return False


def real_path(path):
    """Returns `path` with every symbolic link resolved (remote paths have none)."""
    return path if '://' in path else os.path.realpath(path)


def loop_reason(folder, ancestors):
    """Returns why reading `folder` would loop (it is, or holds, one of the real folders
    `ancestors` being read), else None."""
    target = real_path(folder)
    prefix = target.rstrip(os.sep) + os.sep
    if any(ancestor == target or ancestor.startswith(prefix) for ancestor in ancestors):
        return 'symbolic link loop: it leads to %s, which holds this folder (not followed)' % target
    return None


Listing = collections.namedtuple('Listing', 'files folders loops real_files')
Walk = collections.namedtuple('Walk', 'paths real_paths loops')


def entries(top):
    """Returns (name, is a folder, is a symbolic link) of each non-hidden entry of `top`, sorted."""
    try:
        if '://' in top:
            names = sorted(name.rstrip('/') for name in tf.io.gfile.listdir(top))
            return [(name, tf.io.gfile.isdir(os.path.join(top, name)), False)
                    for name in names if not name.startswith('.')]
        with os.scandir(top) as scan:
            return sorted((entry.name, entry.is_dir(), entry.is_symlink())
                          for entry in scan if not entry.name.startswith('.'))
    except tf.errors.OpError as error:
        problem = error.message
    except OSError as error:
        problem = error.strerror or str(error)
    raise ConfigError('--dataset_dir %s: cannot read directory (%s)' % (top, problem))


def list_folder(top, excluded_paths, ancestors=()):
    """Returns the Listing of `top`: image files (and their real paths) and sub-folders directly
    in it, hidden and output files left out, and the sub-folders not followed because they
    loop, with the reason. `ancestors`: the real paths of the folders above `top` being read.
    """
    found = entries(top)
    names = [name for name, _, _ in found]
    real_top = real_path(top)
    ancestors = tuple(ancestors) + (real_top,)
    listing = Listing([], [], [], [])
    for name, is_folder, is_link in found:
        path = os.path.join(top, name)
        if os.path.normpath(path) in excluded_paths:
            continue
        if is_folder:
            reason = loop_reason(path, ancestors)
            if reason:
                listing.loops.append((path, reason))
            else:
                listing.folders.append(name)
        elif not is_output_file(name, names):
            listing.files.append(name)
            listing.real_files.append(real_path(path) if is_link else os.path.join(real_top, name))
    return listing


def files_below(top, excluded_paths, ancestors=()):
    """Returns the Walk of `top`: every non-hidden file below it in sorted order, their real
    paths, and [(folder, reason)] of the looping folders not followed."""
    listing = list_folder(top, excluded_paths, ancestors)
    ancestors = tuple(ancestors) + (real_path(top),)
    walk = Walk([os.path.join(top, name) for name in listing.files], list(listing.real_files),
                list(listing.loops))
    for folder in listing.folders:
        below = files_below(os.path.join(top, folder), excluded_paths, ancestors)
        walk.paths.extend(below.paths)
        walk.real_paths.extend(below.real_paths)
        walk.loops.extend(below.loops)
    return walk


def relative(path, top):
    return os.path.relpath(path, top) if '://' not in path else path[len(top):].lstrip('/')


def once_each(items, real_paths, top):
    """Returns (items, skipped): every real file once, a second path to it skipped with the reason.

    The path without a symbolic link below `top` is kept (so a link into another
    class folder never relabels its files); else the first one listed.
    """
    by_file = collections.OrderedDict()
    for item, real in zip(items, real_paths):
        by_file.setdefault(real, []).append(item)
    if len(by_file) == len(items):
        return list(items), []
    top_real = real_path(top)
    kept, skipped = set(), []
    for real, paths in by_file.items():
        direct = [item for item in paths if real == os.path.join(top_real, item.source)]
        first = (direct or paths)[0]
        kept.add(id(first))
        skipped += [{'file': item.source,
                     'reason': 'the same file as %s (reached again through a symbolic link)'
                               % first.source} for item in paths if item is not first]
    return [item for item in items if id(item) in kept], skipped


def loop_skips(loops, top):
    return [{'file': relative(path, top), 'reason': reason} for path, reason in loops]


def folder_inputs(dataset_dir, classes, unlabelled, excluded_paths):
    """Returns Inputs for an image folder: class sub-folders or a flat (unlabelled) folder.

    Symbolic links are followed, except into a folder being read (a loop); each
    real file is listed once. Both are reported in `skipped`.
    """
    files, folders, loops, _ = list_folder(dataset_dir, excluded_paths)
    if unlabelled or not folders:
        walk = files_below(dataset_dir, excluded_paths)
        items = [InputItem(relative(path, dataset_dir), path, None, UNLABELLED)
                 for path in walk.paths]
        items, repeated = once_each(items, walk.real_paths, dataset_dir)
        return Inputs(items, classes or [], loop_skips(walk.loops, dataset_dir) + repeated)
    if classes is None:
        classes = folders
    unknown = [folder for folder in folders if folder not in classes]
    if unknown:
        raise ConfigError('--dataset_dir %s: class folder(s) %s are not in the labels file '
                          '(classes: %s)' % (dataset_dir, ', '.join(unknown), ', '.join(classes)))
    items, real_paths = [], []
    ancestors = (real_path(dataset_dir),)
    for label, name in enumerate(classes):
        if name in folders:
            walk = files_below(os.path.join(dataset_dir, name), excluded_paths, ancestors)
            items += [InputItem(relative(path, dataset_dir), path, None, label)
                      for path in walk.paths]
            real_paths += walk.real_paths
            loops += walk.loops
    items, repeated = once_each(items, real_paths, dataset_dir)
    skipped = [{'file': name, 'reason': 'not inside a class folder'} for name in files]
    return Inputs(items, classes, skipped + loop_skips(loops, dataset_dir) + repeated)


def load_numpy(path):
    """Returns (images, labels or None, class names or None) from a .npz or .npy file."""
    try:
        with tf.io.gfile.GFile(path, 'rb') as stream:
            loaded = np.load(stream, allow_pickle=False)
            if isinstance(loaded, np.ndarray):
                return loaded, None, None
            with loaded:
                if 'images' not in loaded:
                    raise ConfigError('--dataset_dir %s: no "images" array (found: %s)' % (
                        path, ', '.join(loaded.files) or 'nothing'))
                return (loaded['images'], loaded['labels'] if 'labels' in loaded else None,
                        [str(name) for name in loaded['class_names']]
                        if 'class_names' in loaded else None)
    except (ValueError, OSError, tf.errors.OpError) as error:
        raise ConfigError('--dataset_dir %s: cannot read NumPy data (%s)' % (
            path, getattr(error, 'message', error))) from None


def numpy_inputs(path, classes, unlabelled):
    """Returns Inputs for the arrays in a .npz/.npy file."""
    images, labels, stored_classes = load_numpy(path)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or (
            images.ndim == 4 and images.shape[-1] not in (1, 3, 4)):
        raise ConfigError('--dataset_dir %s: images must be uint8 of shape (N, H, W) or '
                          '(N, H, W, 1|3|4), got %s %s' % (path, images.dtype, images.shape))
    name = os.path.basename(path)
    if labels is None or unlabelled:
        labels = np.full(len(images), UNLABELLED)
        classes = classes or stored_classes or []
    else:
        if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
            raise ConfigError('--dataset_dir %s: labels must be integers of shape (%d,), got %s %s'
                              % (path, len(images), labels.dtype, labels.shape))
        classes = classes or stored_classes or [str(label) for label in range(labels.max() + 1)]
        if labels.min() < 0 or labels.max() >= len(classes):
            raise ConfigError('--dataset_dir %s: labels range over [%d, %d] but there are %d '
                              'classes' % (path, labels.min(), labels.max(), len(classes)))
    items = [InputItem('%s[%d]' % (name, index), None, images[index], int(labels[index]))
             for index in range(len(images))]
    return Inputs(items, classes, [])


def find_inputs(dataset_dir, labels_file=None, unlabelled=False, excluded_paths=()):
    """Returns Inputs (items, class names in label order, files skipped while listing)."""
    classes = read_labels_file(labels_file) if labels_file else None
    excluded = {os.path.normpath(path) for path in excluded_paths}
    if labels_file:
        excluded.add(os.path.normpath(labels_file))
    if dataset_dir.endswith(NUMPY_SUFFIXES) and not tf.io.gfile.isdir(dataset_dir):
        if not tf.io.gfile.exists(dataset_dir):
            raise ConfigError('--dataset_dir %s: file not found' % dataset_dir)
        return numpy_inputs(dataset_dir, classes, unlabelled)
    if not tf.io.gfile.exists(dataset_dir):
        raise ConfigError('--dataset_dir %s: no such folder' % dataset_dir)
    if not tf.io.gfile.isdir(dataset_dir):
        raise ConfigError('--dataset_dir %s: expected a folder of images or a .npz/.npy file'
                          % dataset_dir)
    return folder_inputs(dataset_dir, classes, unlabelled, excluded)

