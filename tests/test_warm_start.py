"""warm_start_from / warm_start_vars: a new run starts from another run's variables."""
import contextlib
import io
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import run
from library import config as config_lib
from library import warm_start

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARMED = ['cnn/features/conv1/kernel', 'cnn/features/bn1/gamma', 'cnn/features/bn1/beta',
          'cnn/features/bn1/moving_mean', 'cnn/features/bn1/moving_variance']


def train(model_dir, train_files, eval_files, **overrides):
    """Trains a tiny cnn with run.py --mode train; returns the exit code."""
    flags = {'config_file': os.path.join(ROOT, 'project.yaml'), 'mode': 'train', 'model': 'cnn',
             'model_dir': model_dir, 'train_files': train_files, 'eval_files': eval_files,
             'image_size': 24, 'cnn_filters': '[4, 8]', 'train_batch_size': 6, 'max_train_steps': 2,
             'learning_rate': 0.05, 'save_summary_steps': 1000, 'log_step_count_steps': 100,
             'best_metric': 'accuracy', 'best_mode': 'max'}
    flags.update(overrides)
    argv = config_lib.to_flags(flags)
    with contextlib.redirect_stdout(io.StringIO()):
        return run.main(argv)


@pytest.fixture(scope='module')
def source_run(shapes_tfrecords, tmp_path_factory):
    """A 3-class cnn trained 2 steps: the run to warm-start from."""
    model_dir = str(tmp_path_factory.mktemp('warm_source') / 'model')
    assert train(model_dir, shapes_tfrecords['train_files'], shapes_tfrecords['eval_files'],
                 random_seed=1) == 0
    return model_dir


@pytest.fixture(scope='module')
def two_class_folder(shapes_tfrecords, tmp_path_factory):
    """An image folder with two of the three shape classes (a new class set)."""
    images = os.path.join(os.path.dirname(shapes_tfrecords['dir']), 'images', 'train')
    folder = tmp_path_factory.mktemp('two_classes')
    for name in ('circle', 'square'):
        shutil.copytree(os.path.join(images, name), str(folder / name))
    return str(folder)


def test_warmed_variables_start_from_the_source_and_excluded_ones_do_not(source_run, two_class_folder,
                                                                         tmp_path):
    model_dir = str(tmp_path / 'model')
    assert train(model_dir, two_class_folder, two_class_folder, random_seed=2,
                 warm_start_from=source_run, warm_start_vars='cnn/features/(conv1|bn1)/') == 0
    source = tf.train.load_checkpoint(tf.train.latest_checkpoint(source_run))
    start = tf.train.load_checkpoint(os.path.join(model_dir, 'model.ckpt-0'))
    assert start.get_tensor('global_step') == 0
    for name in WARMED:
        np.testing.assert_array_equal(start.get_tensor(name), source.get_tensor(name), err_msg=name)
    assert not np.allclose(start.get_tensor('cnn/features/conv2/kernel'),
                           source.get_tensor('cnn/features/conv2/kernel'))
    assert start.get_tensor('cnn/logits/kernel').shape[-1] == 2
    assert source.get_tensor('cnn/logits/kernel').shape[-1] == 3
    assert not np.any(start.get_tensor('cnn/features/conv1/kernel/Adam'))  # a fresh optimizer


def settings_for(source, regex='.*'):
    return warm_start.warm_start_settings({'warm_start_from': source, 'warm_start_vars': regex})


def test_model_dir_or_checkpoint_prefix_name_the_same_checkpoint(source_run):
    prefix = tf.train.latest_checkpoint(source_run)
    assert settings_for(source_run).ckpt_to_initialize_from == prefix
    assert settings_for(prefix).ckpt_to_initialize_from == prefix


def test_global_step_and_optimizer_state_are_never_warmed(source_run):
    names = warm_start.chosen_variables(tf.train.latest_checkpoint(source_run), '.*')
    assert 'cnn/logits/kernel' in names and 'cnn/features/bn2/moving_mean' in names
    assert not [name for name in names if 'Adam' in name or 'power' in name or name == 'global_step']


def test_no_warm_start_without_a_path():
    assert settings_for(None) is None


def test_missing_path_is_a_config_error_naming_it(tmp_path):
    missing = str(tmp_path / 'no_such_run')
    with pytest.raises(config_lib.ConfigError, match='warm_start_from: %s not found' % missing):
        settings_for(missing)
    with pytest.raises(config_lib.ConfigError, match='holds no checkpoint'):
        settings_for(str(tmp_path))


def test_regex_matching_nothing_lists_the_variables(source_run):
    with pytest.raises(config_lib.ConfigError, match=r"matches no model variable.*cnn/features/conv1/kernel"):
        settings_for(source_run, 'resnet/')
    with pytest.raises(config_lib.ConfigError, match='not a valid regular expression'):
        settings_for(source_run, '(')


def test_run_py_reports_a_missing_source(shapes_tfrecords, tmp_path, capsys):
    missing = str(tmp_path / 'no_such_run')
    assert train(str(tmp_path / 'model'), shapes_tfrecords['train_files'], shapes_tfrecords['eval_files'],
                 warm_start_from=missing) == 2
    assert missing in capsys.readouterr().err
