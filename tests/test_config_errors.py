"""A config error is one line and exit 2, and leaves no folder or file behind."""
import json
import os

import pytest

import run
from library import config as config_lib


def flags(data, model_dir, **overrides):
    values = {'model_dir': model_dir, 'train_files': data['train_files'],
              'eval_files': data['eval_files'], 'image_size': 32, 'cnn_filters': '[4]',
              'train_batch_size': 10, 'eval_batch_size': 8, 'max_train_steps': 2,
              'max_eval_steps': 1, 'best_metric': 'accuracy', 'best_mode': 'max'}
    values.update(overrides)
    return config_lib.to_flags(values)


def one_error_line(capsys):
    error = capsys.readouterr().err
    assert error.startswith('run.py: error: ') and error.count('\n') == 1, error
    return error


@pytest.mark.parametrize('overrides, expected', [
    ({'num_classes': 5}, 'num_classes is 5'),              # found while building the params
    ({'best_metric': 'acc'}, "best_metric 'acc' is not produced"),  # found in the EVAL graph
])
def test_training_config_error_leaves_no_model_dir(shapes_tfrecords, tmp_path, capsys,
                                                   overrides, expected):
    model_dir = tmp_path / 'runs' / 'new'
    assert run.main(flags(shapes_tfrecords, str(model_dir), **overrides)) == 2
    assert expected in one_error_line(capsys)
    assert os.listdir(tmp_path) == []


def test_config_error_keeps_an_existing_model_dir(shapes_tfrecords, tmp_path, capsys):
    model_dir = tmp_path / 'mine'
    model_dir.mkdir()
    (model_dir / 'notes.txt').write_text('kept')
    assert run.main(flags(shapes_tfrecords, str(model_dir), num_classes=5) + ['--mode', 'train']) == 2
    one_error_line(capsys)
    assert os.listdir(model_dir) == ['notes.txt']


def test_evaluate_without_checkpoint_leaves_no_model_dir(shapes_tfrecords, tmp_path, capsys):
    model_dir = tmp_path / 'never_trained'
    assert run.main(flags(shapes_tfrecords, str(model_dir)) + ['--mode', 'evaluate']) == 2
    assert 'no checkpoint in model_dir' in one_error_line(capsys)
    assert not model_dir.exists()


@pytest.mark.parametrize('overrides', [{'early_stopping_patience': 2}, {'stop_threshold': 0.9}])
def test_cluster_run_with_early_stopping_is_refused(shapes_tfrecords, tmp_path, capsys,
                                                    monkeypatch, overrides):
    monkeypatch.setenv('TF_CONFIG', json.dumps({
        'cluster': {'chief': ['localhost:2222'], 'worker': ['localhost:2223']},
        'task': {'type': 'chief', 'index': 0}}))
    model_dir = tmp_path / 'cluster'
    argv = flags(shapes_tfrecords, str(model_dir), distribution='multi_worker', **overrides)
    assert run.main(argv) == 2
    assert 'early stopping is not available in a TF_CONFIG cluster run' in one_error_line(capsys)
    assert not model_dir.exists()


def test_hub_export_of_a_model_without_feature_extractor_writes_nothing(shapes_tfrecords, tmp_path,
                                                                         capsys):
    export_dir = tmp_path / 'export'
    argv = flags(shapes_tfrecords, str(tmp_path / 'model'), model='vae', export_hub_module='true')
    assert run.main(argv + ['--mode', 'export', '--export_dir', str(export_dir)]) == 2
    assert 'model vae has no feature extractor' in one_error_line(capsys)
    assert os.listdir(tmp_path) == []
