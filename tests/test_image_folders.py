"""Training from image folders: the converter's labels, the TFRecord path's preprocessing, balance_classes."""
import collections
import contextlib
import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import run
from library import config as config_lib
from library import dataset_info, estimator, image_folders
from library import tfrecord_schema as schema
from project import input_fn
from project.models import get_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = tf.estimator.ModeKeys.TRAIN
EVAL = tf.estimator.ModeKeys.EVAL


def params_of(config):
    return estimator.make_params(config, get_model(config['model']))


def shapes_folder(shapes_tfrecords, split):
    return os.path.join(os.path.dirname(shapes_tfrecords['dir']), 'images', split)


def make_config(**overrides):
    _, config = config_lib.parse(['--config_file', os.path.join(ROOT, 'project.yaml')])
    config = dict(config)
    config.update(image_size=16, random_seed=3, model_dir='unused', train_batch_size=1, **overrides)
    return config


@pytest.fixture(scope='module')
def skewed_folder(tmp_path_factory):
    """Class `b_few` with 2 images (one in a nested folder), class `a_many` with 5, plus a stray top file."""
    root = tmp_path_factory.mktemp('skewed')
    for name, count in (('b_few', 2), ('a_many', 5)):
        (root / name / 'nested').mkdir(parents=True)
        for index in range(count):
            folder = root / name / 'nested' if index == 0 else root / name
            pixels = np.full((20, 30, 3), 30 * index + (0 if name == 'a_many' else 10), np.uint8)
            Image.fromarray(pixels).save(str(folder / ('%d.jpg' % index)))
    (root / 'notes.txt').write_text('not an image')
    return str(root)


def test_labels_and_classes_are_the_converters(shapes_tfrecords):
    folder = shapes_folder(shapes_tfrecords, 'train')
    converted = dataset_info.load(shapes_tfrecords['train_files'])
    info = image_folders.describe(folder)
    assert info['classes'] == converted['classes'] == ['circle', 'square', 'triangle']
    assert info['count'] == converted['count']
    found = image_folders.listing(folder, 'train_files')
    listed = {os.path.relpath(path, folder): label for path, label in zip(found.paths, found.labels)}
    stored = {}
    for record in tf.data.TFRecordDataset(tf.io.gfile.glob(shapes_tfrecords['train_files'])):
        example = tf.train.Example.FromString(record.numpy()).features.feature
        stored[example[schema.FILENAME].bytes_list.value[0].decode()] = example[schema.LABEL].int64_list.value[0]
    assert listed == stored


def test_evaluation_images_equal_the_tfrecord_paths(shapes_tfrecords):
    def examples(eval_files):
        config = make_config(train_files=shapes_tfrecords['train_files'], eval_files=eval_files,
                             eval_batch_size=100)
        [(features, labels)] = list(input_fn.input_fn(EVAL, params_of(config)))
        return sorted((int(label), image.tobytes()) for image, label in zip(features['image'].numpy(), labels))

    from_folder = examples(shapes_folder(shapes_tfrecords, 'test'))
    from_records = examples(shapes_tfrecords['eval_files'])
    assert len(from_folder) == 24
    assert from_folder == from_records


def epoch_label_counts(folder, balance, epochs=3):
    config = make_config(train_files=folder, eval_files=folder, balance_classes=balance)
    params = params_of(config)
    labels = [int(batch[1][0]) for batch in input_fn.input_fn(TRAIN, params, epochs=epochs)]
    per_epoch = len(labels) // epochs
    assert len(labels) == per_epoch * epochs == params['steps_per_epoch'] * epochs
    return [collections.Counter(labels[start:start + per_epoch]) for start in range(0, len(labels), per_epoch)]


def test_every_epoch_sees_each_image_once(skewed_folder):
    assert epoch_label_counts(skewed_folder, balance=False) == [{0: 5, 1: 2}] * 3


def test_balance_classes_resamples_every_class_to_the_largest(skewed_folder):
    assert epoch_label_counts(skewed_folder, balance=True) == [{0: 5, 1: 5}] * 3


def test_stray_files_are_reported_and_classes_sorted(skewed_folder):
    info = image_folders.describe(skewed_folder)
    assert info['classes'] == ['a_many', 'b_few'] and info['class_counts'] == [5, 2]
    assert info['skipped'] == [{'file': 'notes.txt', 'reason': 'not inside a class folder'}]


def test_evaluation_folder_lacking_a_class_keeps_the_training_labels(skewed_folder, tmp_path):
    only_b = tmp_path / 'b_few'
    only_b.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(str(only_b / 'x.png'))
    config = make_config(train_files=skewed_folder, eval_files=str(tmp_path))
    [(_, labels)] = list(input_fn.input_fn(EVAL, params_of(config)))
    assert labels.numpy().tolist() == [1]


def test_settings_a_folder_cannot_serve_are_config_errors(skewed_folder, shapes_tfrecords, tmp_path):
    params = params_of(make_config(train_files=skewed_folder, eval_files=skewed_folder,
                                               cache='memory'))
    with pytest.raises(config_lib.ConfigError, match='cache'):
        input_fn.input_fn(TRAIN, params)
    params = params_of(make_config(train_files=shapes_tfrecords['train_files'],
                                               eval_files=shapes_tfrecords['eval_files'], balance_classes=True))
    with pytest.raises(config_lib.ConfigError, match='balance_classes: true needs an image folder'):
        input_fn.input_fn(TRAIN, params)
    (tmp_path / 'empty').mkdir()
    assert image_folders.describe(str(tmp_path / 'empty')) is None
    with pytest.raises(config_lib.ConfigError, match='eval_files: no image files in folder'):
        input_fn.input_fn(EVAL, dict(params, eval_files=str(tmp_path / 'empty')))


def test_a_corrupt_image_file_is_named_or_skipped(skewed_folder, tmp_path):
    for name in ('a_many', 'b_few'):
        (tmp_path / name).mkdir()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(str(tmp_path / name / 'good.png'))
    (tmp_path / 'b_few' / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 truncated')
    params = params_of(make_config(train_files=skewed_folder, eval_files=str(tmp_path)))
    with pytest.raises(tf.errors.InvalidArgumentError, match='input_fn: .*broken.jpg: the image cannot be decoded'):
        list(input_fn.input_fn(EVAL, params))
    [(_, labels)] = list(input_fn.input_fn(EVAL, dict(params, skip_corrupt=True)))
    assert labels.numpy().tolist() == [0, 1]


def test_a_folder_without_class_folders_is_unlabelled(tmp_path):
    for index in range(3):
        Image.fromarray(np.full((10, 12, 3), 50 * index, np.uint8)).save(str(tmp_path / ('%d.png' % index)))
    info = image_folders.describe(str(tmp_path))
    assert info['count'] == 3 and info['classes'] == []
    params = dict(make_config(train_files=str(tmp_path), eval_files=str(tmp_path), model='vae'),
                  num_classes=None, class_names=[])
    [(features, labels)] = list(input_fn.input_fn(EVAL, params))
    assert features['image'].shape == (3, 16, 16, 3) and labels.numpy().tolist() == [-1, -1, -1]


def test_train_and_evaluate_from_folders(shapes_tfrecords, tmp_path):
    flags = {'config_file': os.path.join(ROOT, 'project.yaml'), 'model': 'cnn',
             'model_dir': str(tmp_path / 'model'), 'train_files': shapes_folder(shapes_tfrecords, 'train'),
             'eval_files': shapes_folder(shapes_tfrecords, 'test'), 'image_size': 24, 'cnn_filters': '[4, 8]',
             'train_batch_size': 20, 'eval_batch_size': 24, 'train_epochs': 1, 'balance_classes': 'true',
             'best_metric': 'accuracy', 'best_mode': 'max', 'random_seed': 0, 'save_summary_steps': 1000}
    argv = config_lib.to_flags(flags)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert run.main(argv) == 0
    assert 'final evaluation: global_step 3 ' in output.getvalue()
    assert tf.io.gfile.exists(str(tmp_path / 'model' / 'best' / 'best.json'))
