"""run.py train_and_evaluate, train and evaluate on a tiny colour-coded set (cnn at 32x32)."""
import contextlib
import fcntl
import io
import json
import math
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import run
from library import config as config_lib
from library import dataset_info, tfrecord_schema

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ['red', 'green', 'blue']
TRAIN_PER_CLASS, EVAL_PER_CLASS = 20, 8
STEPS_PER_EPOCH = 6  # 60 training images // train_batch_size 10
TRAIN_EPOCHS = 8


def run_main(argv):
    """Runs run.py's main(argv); returns (exit code, stdout text)."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = run.main(argv)
    return code, output.getvalue()


def tiny_flags(data, model_dir, **overrides):
    """Returns run.py flags for a fast cnn on `data`'s files; overrides replace flags."""
    flags = {
        'config_file': os.path.join(ROOT, 'project.yaml'),
        'model': 'cnn', 'model_dir': model_dir,
        'train_files': data['train_files'], 'eval_files': data['eval_files'],
        'image_size': 32, 'cnn_filters': '[8, 16]', 'train_batch_size': 10,
        'eval_batch_size': 12, 'train_epochs': TRAIN_EPOCHS, 'epochs_between_evals': 4,
        'learning_rate': 0.01, 'dropout_rate': 0.0, 'batch_norm_momentum': 0.9,
        'crop_area_range': '[0.5, 1.0]', 'best_metric': 'accuracy',
        'best_mode': 'max', 'random_seed': 0, 'save_checkpoints_steps': 1000,
        'save_summary_steps': 1000, 'log_step_count_steps': 8, 'shuffle_buffer': 64,
    }
    flags.update(overrides)
    return config_lib.to_flags(flags)


def build_once(tmp_path_factory, name, build):
    """Builds folder `name` once per test session, shared by the pytest-xdist workers."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        root = root.parent
    target = root / name
    with open(str(root / (name + '.lock')), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / 'complete').exists():
            if target.exists():
                shutil.rmtree(str(target))
            target.mkdir()
            build(target)
            (target / 'complete').write_text('')
    return target


def encoded_colour_image(colour_index, image_format, seed):
    """Returns a noisy 40x30 image dominated by colour CLASSES[colour_index], encoded."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 90, size=(30, 40, 3))
    pixels[:, :, colour_index] += rng.integers(120, 166)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, image_format)
    return buffer.getvalue()


def write_colour_set(folder, name, per_class, seed):
    """Writes the colour classes as <name>-00000-of-00001.tfrecord plus <name>.json."""
    shard = dataset_info.shard_file_name(name, 0, 1)
    with tf.io.TFRecordWriter(os.path.join(folder, shard)) as writer:
        for index in range(per_class * len(CLASSES)):
            label = index % len(CLASSES)
            encoded = encoded_colour_image(label, 'JPEG', seed + index)
            writer.write(tfrecord_schema.image_example(
                encoded, 'jpeg', 30, 40, 3, label, CLASSES[label],
                '%s_%d.jpg' % (CLASSES[label], index)).SerializeToString())
    dataset_info.write(dataset_info.info_path(folder, name), {
        'name': name, 'count': per_class * len(CLASSES), 'classes': CLASSES,
        'shards': [shard], 'skipped': []})
    return os.path.join(folder, '%s-*.tfrecord' % name)


def copy_of(trained_run, tmp_path):
    model_dir = str(tmp_path / 'model')
    shutil.copytree(trained_run['model_dir'], model_dir)
    return model_dir


def read_best(model_dir):
    with open(os.path.join(model_dir, 'best', 'best.json')) as stream:
        return json.load(stream)


def metric_in(line, name):
    return float(re.search(r'\b%s (\S+)' % name, line).group(1))


def final_line(stdout):
    return [line for line in stdout.splitlines() if line.startswith('final evaluation:')][-1]


def test_train_and_evaluate_reports_progress_metrics_and_paths(trained_run):
    stdout, model_dir = trained_run['stdout'], trained_run['model_dir']
    assert trained_run['exit_code'] == 0
    total = STEPS_PER_EPOCH * TRAIN_EPOCHS
    progress = [line for line in stdout.splitlines() if re.match(r'step \d+/%d  loss ' % total,
                                                                  line)]
    assert progress and all('examples/s' in line and 'ETA' in line for line in progress)
    assert sum(line.startswith('evaluation: ') for line in stdout.splitlines()) == 2
    assert 'accuracy' in final_line(stdout)
    assert 'best snapshot: best accuracy' in stdout
    assert os.path.join(model_dir, 'best') in stdout
    assert 'tensorboard --logdir %s' % model_dir in stdout
    assert os.listdir(os.path.join(model_dir, 'eval'))
    assert any(name.startswith('events.out') for name in os.listdir(model_dir))


def test_short_training_reduces_loss_and_beats_chance(trained_run):
    line = final_line(trained_run['stdout'])
    assert metric_in(line, 'global_step') == STEPS_PER_EPOCH * TRAIN_EPOCHS
    assert metric_in(line, 'loss') < math.log(3)  # a uniform guess over 3 classes
    assert metric_in(line, 'accuracy') >= 0.75  # chance is 1/3


def test_best_snapshot_evaluates_to_the_recorded_value(trained_run):
    model_dir = trained_run['model_dir']
    record = read_best(model_dir)
    assert record['metric'] == 'accuracy' and record['mode'] == 'max'
    assert record['global_step'] in (24, 48)
    code, stdout = run_main(tiny_flags(trained_run['data'], model_dir) + [
        '--mode', 'evaluate', '--checkpoint', 'best'])
    assert code == 0
    line = [line for line in stdout.splitlines() if line.startswith('evaluation of')][0]
    assert 'step-%d' % record['global_step'] in line
    assert metric_in(line, 'accuracy') == pytest.approx(record['value'], abs=1e-4)
    assert metric_in(line, 'global_step') == record['global_step']


def test_saved_config_reproduces_the_run(trained_run):
    model_dir = trained_run['model_dir']
    code, stdout = run_main(['--config_file', os.path.join(model_dir, 'config.yaml'),
                             '--print_config'])
    assert code == 0
    assert re.search(r'^ +model_dir: %s\s' % re.escape(model_dir), stdout, re.M)
    assert re.search(r'^ +learning_rate: 0.01\s', stdout, re.M)


def test_restart_does_not_redo_epochs_or_lose_the_best(trained_run, tmp_path):
    model_dir = copy_of(trained_run, tmp_path)
    before = read_best(model_dir)
    flags = tiny_flags(trained_run['data'], model_dir)
    code, stdout = run_main(flags)
    assert code == 0
    assert 'training already finished at step %d' % (STEPS_PER_EPOCH * TRAIN_EPOCHS) in stdout
    assert read_best(model_dir) == before
    code, stdout = run_main(flags + ['--train_epochs', str(TRAIN_EPOCHS + 2),
                                     '--epochs_between_evals', '2'])
    assert code == 0
    assert 'resuming from global step %d' % (STEPS_PER_EPOCH * TRAIN_EPOCHS) in stdout
    assert sum(line.startswith('evaluation: ') for line in stdout.splitlines()) == 1
    assert metric_in(final_line(stdout), 'global_step') == STEPS_PER_EPOCH * (TRAIN_EPOCHS + 2)
    after = read_best(model_dir)
    assert after['value'] >= before['value']


def test_train_mode_then_evaluate_latest(trained_run, tmp_path):
    model_dir = str(tmp_path / 'model')
    flags = tiny_flags(trained_run['data'], model_dir, train_epochs=1)
    code, stdout = run_main(flags + ['--mode', 'train'])
    assert code == 0 and 'trained to step %d' % STEPS_PER_EPOCH in stdout
    assert not os.path.exists(os.path.join(model_dir, 'best'))
    code, stdout = run_main(flags + ['--mode', 'evaluate', '--checkpoint', 'latest'])
    assert code == 0
    assert 'model.ckpt-%d' % STEPS_PER_EPOCH in stdout and 'accuracy' in stdout


def test_stop_threshold_and_early_stopping(trained_run, tmp_path):
    data = trained_run['data']
    flags = tiny_flags(data, str(tmp_path / 'threshold'), epochs_between_evals=1,
                       stop_threshold=0.0)
    code, stdout = run_main(flags)
    assert code == 0 and 'reached stop_threshold' in stdout
    assert metric_in(final_line(stdout), 'global_step') == STEPS_PER_EPOCH
    # global_step grows at every evaluation, so with mode min it never improves again.
    flags = tiny_flags(data, str(tmp_path / 'patience'), epochs_between_evals=1,
                       best_metric='global_step', best_mode='min', early_stopping_patience=1)
    code, stdout = run_main(flags)
    assert code == 0 and 'early stopping: 1 evaluations without improvement' in stdout
    assert metric_in(final_line(stdout), 'global_step') == 2 * STEPS_PER_EPOCH


def test_unknown_best_metric_fails_before_training(trained_run, tmp_path, capsys):
    model_dir = str(tmp_path / 'model')
    code = run.main(tiny_flags(trained_run['data'], model_dir, best_metric='acc'))
    assert code == 2
    error = capsys.readouterr().err
    assert "best_metric 'acc' is not produced" in error
    assert 'accuracy' in error and 'mean_per_class_accuracy' in error
    assert tf_checkpoints(model_dir) == []


def tf_checkpoints(model_dir):
    if not os.path.isdir(model_dir):
        return []
    return [name for name in os.listdir(model_dir) if name.startswith('model.ckpt')]


def test_num_classes_mismatch_is_a_config_error(trained_run, tmp_path, capsys):
    code = run.main(tiny_flags(trained_run['data'], str(tmp_path / 'model'), num_classes=5))
    assert code == 2
    error = capsys.readouterr().err
    assert 'num_classes is 5' in error and 'lists 3 classes' in error


def test_evaluate_best_without_snapshot_is_a_config_error(trained_run, tmp_path, capsys):
    flags = tiny_flags(trained_run['data'], str(tmp_path / 'model'))
    assert run.main(flags + ['--mode', 'evaluate', '--checkpoint', 'best']) == 2
    assert 'no best.json' in capsys.readouterr().err


def test_nan_loss_stops_training_with_a_clear_message(trained_run, tmp_path):
    model_dir = str(tmp_path / 'model')
    code, stdout = run_main(tiny_flags(trained_run['data'], model_dir, optimizer='sgd',
                                       learning_rate=1e38, max_train_steps=30))
    assert code == 1
    assert 'training stopped: Model diverged with loss = ' in stdout
    assert not os.path.exists(os.path.join(model_dir, 'best', 'best.json'))
