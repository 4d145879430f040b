"""The class list of a run: resolved once, kept in model_dir/classes.json, checked against the data.

A label is an index into a class list, so a checkpoint means something only with
the list it was trained on. Training a classifier writes that list into
model_dir when it starts; every later mode (resume, evaluate, export, predict,
sample) takes it from there. A training set must list the same classes in the
same order; an evaluation set that lists some or all of them in another order
is remapped by name; any other set is refused with both lists named.
"""
import tensorflow as tf

from library import dataset_info, files, image_folders
from library.config import ConfigError

CLASSES_FILE = 'classes.json'


def classes_path(model_dir):
    """Returns the path of the run's class list in `model_dir`."""
    return files.join(model_dir, CLASSES_FILE)


def listed(names):
    """Returns `names` as '[a, b, c]' for messages."""
    return '[%s]' % ', '.join(names)


def read(model_dir):
    """Returns the class names saved in `model_dir`, or None when it holds none."""
    if not model_dir:
        return None
    path = classes_path(model_dir)
    if not tf.io.gfile.exists(path):
        return None
    saved = dataset_info.read(path)
    names = saved.get('classes')
    if not isinstance(names, list) or not names or saved.get('num_classes') != len(names):
        raise ConfigError('%s: expected {"classes": [names], "num_classes": their count}, got %s'
                          % (path, saved))
    return [str(name) for name in names]


def write(model_dir, names):
    """Saves `names` as the run's class list in `model_dir` (atomically)."""
    dataset_info.write(classes_path(model_dir), {'classes': list(names), 'num_classes': len(names)})


def set_classes(info):
    """Returns the class names a dataset description lists ([] without one)."""
    return [str(name) for name in (info or {}).get('classes') or []]


def from_train_set(config, info, requires_classes):
    """Returns (num_classes, class_names) from the training set's description `info` or num_classes.

    A model that does not require classes (generative models) may run without
    either; its num_classes is then None.
    """
    names = set_classes(info)
    configured = config['num_classes']
    if names and configured is not None and configured != len(names):
        raise ConfigError(
            'num_classes is %d but the dataset description next to train_files %s lists %d '
            'classes (%s); set num_classes to null or to %d' % (
                configured, config['train_files'], len(names), ', '.join(names), len(names)))
    if names:
        return len(names), names
    if configured is not None:
        if configured < 1:
            raise ConfigError('num_classes must be at least 1, got %d' % configured)
        return configured, [str(index) for index in range(configured)]
    if requires_classes:
        raise ConfigError(
            'num_classes is null and no dataset description (<name>.json with classes) lies '
            'next to train_files %s; convert the data with convert_dataset.py or set '
            'num_classes' % config['train_files'])
    return None, []


def resolve(config, info, requires_classes, trains):
    """Returns (num_classes, class_names) of the run: model_dir's class list when it holds one.

    With a saved list, the training set `info` must list the same classes, in
    the same order when `trains` (other modes only read labels from the checkpoint).
    """
    saved = read(config['model_dir'])
    if saved is None:
        return from_train_set(config, info, requires_classes)
    path = classes_path(config['model_dir'])
    configured = config['num_classes']
    if configured is not None and configured != len(saved):
        raise ConfigError('num_classes is %d but this run was trained on %d classes %s (%s); '
                          'set num_classes to null or to %d' % (
                              configured, len(saved), listed(saved), path, len(saved)))
    names = set_classes(info)
    if names and (names != saved if trains else sorted(names) != sorted(saved)):
        raise ConfigError(
            'train_files %s lists the classes %s but this run was trained on %s (%s); %s' % (
                config['train_files'], listed(names), listed(saved), path,
                'train in a new model_dir, or convert the data with --labels_file %s' % path
                if trains else 'point train_files at the run\'s training set'))
    return len(saved), saved


def eval_label_map(config, run_names):
    """Returns the run's label for each label of eval_files when they list the run's classes in
    another order (saying so on stdout), else None; ConfigError when they list a class the run lacks.

    An image folder needs no map: its labels already follow the run's class names.
    """
    eval_files = config['eval_files']
    names = set_classes(image_folders.describe(eval_files)) if eval_files else []
    unknown = [name for name in names if name not in run_names]
    if unknown:
        raise ConfigError('eval_files %s lists the classes %s but this run was trained on %s: '
                          '%s not among them' % (eval_files, listed(names), listed(run_names),
                                                 ', '.join(unknown)))
    if names == run_names[:len(names)] or image_folders.is_image_folder(eval_files):
        return None
    print('eval_files %s lists the classes %s in another order than the run\'s classes %s: its labels are '
          'remapped by name' % (eval_files, listed(names), listed(run_names)), flush=True)
    return [run_names.index(name) for name in names]
