"""Resuming a model_dir: only the same run resumes; the config of every stretch of checkpoints is kept."""
import os

import pytest

import run
from library import config as config_lib
from library import run_identity
from test_training import (
    STEPS_PER_EPOCH,
    TRAIN_EPOCHS,
    copy_of,
    final_line,
    metric_in,
    run_main,
    tiny_flags,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FINAL_STEP = STEPS_PER_EPOCH * TRAIN_EPOCHS


def read_bytes(path):
    with open(path, 'rb') as stream:
        return stream.read()


def listing(model_dir):
    return sorted(os.listdir(model_dir))


def test_every_config_key_is_classified_once():
    keys = set()
    for name in ('project.yaml', 'hyperparameters.yaml'):
        keys |= set(config_lib.SetFile(os.path.join(ROOT, name), 'config').defaults)
    assert not run_identity.IDENTITY_KEYS & run_identity.RESUMABLE_KEYS
    assert keys - run_identity.IDENTITY_KEYS - run_identity.RESUMABLE_KEYS == set()
    assert (run_identity.IDENTITY_KEYS | run_identity.RESUMABLE_KEYS) - keys == set()


@pytest.mark.parametrize('changes, lines', [
    ({'model': 'resnet'}, ['model: cnn in {path}, resnet now']),
    ({'image_size': 48, 'learning_rate': 0.02, 'train_epochs': 20},
     ['image_size: 32 in {path}, 48 now', 'learning_rate: 0.01 in {path}, 0.02 now']),
])
def test_resume_that_changes_what_checkpoints_mean_stops_and_writes_nothing(
        trained_run, tmp_path, capsys, changes, lines):
    model_dir = copy_of(trained_run, tmp_path)
    saved = read_bytes(os.path.join(model_dir, 'config.yaml'))
    before = listing(model_dir)
    code = run.main(tiny_flags(trained_run['data'], model_dir, **changes))
    assert code == 2
    captured = capsys.readouterr()
    error = captured.err.splitlines()
    assert error[0].startswith('run.py: error: %s holds checkpoints of another configuration' % model_dir)
    assert '--allow_config_change' in error[0]
    path = os.path.join(model_dir, 'config.yaml')
    assert error[1:] == [line.format(path=path) for line in lines]  # train_epochs may change
    assert 'Traceback' not in captured.err + captured.out
    assert read_bytes(os.path.join(model_dir, 'config.yaml')) == saved
    assert listing(model_dir) == before


def test_resume_with_longer_training_is_allowed_and_keeps_the_first_config(trained_run, tmp_path):
    model_dir = copy_of(trained_run, tmp_path)
    first = read_bytes(os.path.join(model_dir, 'config.yaml'))
    code, stdout = run_main(tiny_flags(trained_run['data'], model_dir, train_epochs=TRAIN_EPOCHS + 1,
                                       epochs_between_evals=1))
    assert code == 0
    assert metric_in(final_line(stdout), 'global_step') == FINAL_STEP + STEPS_PER_EPOCH
    assert read_bytes(os.path.join(model_dir, 'config.yaml')) == first
    later = config_lib.parse(['--config_file', os.path.join(model_dir, 'config-step-%d.yaml' % FINAL_STEP)])[1]
    assert later['train_epochs'] == TRAIN_EPOCHS + 1 and later['learning_rate'] == 0.01
    # The same command again changes nothing: no further config file.
    names = listing(model_dir)
    code, _ = run_main(tiny_flags(trained_run['data'], model_dir, train_epochs=TRAIN_EPOCHS + 1,
                                  epochs_between_evals=1))
    assert code == 0
    assert [name for name in listing(model_dir) if name.startswith('config')] == [
        name for name in names if name.startswith('config')]


def test_allow_config_change_resumes_and_keeps_the_earlier_config(trained_run, tmp_path):
    model_dir = copy_of(trained_run, tmp_path)
    first = read_bytes(os.path.join(model_dir, 'config.yaml'))
    flags = tiny_flags(trained_run['data'], model_dir, learning_rate=0.001,
                       train_epochs=TRAIN_EPOCHS + 1, epochs_between_evals=1)
    assert run.main(flags) == 2
    code, stdout = run_main(flags + ['--allow_config_change'])
    assert code == 0
    assert metric_in(final_line(stdout), 'global_step') == FINAL_STEP + STEPS_PER_EPOCH
    assert read_bytes(os.path.join(model_dir, 'config.yaml')) == first
    step_config = os.path.join(model_dir, 'config-step-%d.yaml' % FINAL_STEP)
    assert config_lib.parse(['--config_file', step_config])[1]['learning_rate'] == 0.001
    assert config_lib.parse(['--config_file', os.path.join(model_dir, 'config.yaml')])[1][
        'learning_rate'] == 0.01
    # The changed config is now the run's: resuming it needs no flag, going back does.
    assert run_main(flags)[0] == 0
    assert run.main(tiny_flags(trained_run['data'], model_dir, train_epochs=TRAIN_EPOCHS + 1)) == 2


def test_checkpoint_that_cannot_be_restored_is_one_line(trained_run, tmp_path, capsys):
    model_dir = copy_of(trained_run, tmp_path)
    checkpoint = os.path.join(model_dir, 'model.ckpt-%d' % FINAL_STEP)
    # TensorFlow would restore a variable of another shape silently; the shapes are compared first.
    code = run.main(tiny_flags(trained_run['data'], model_dir, cnn_filters='[8, 32]',
                               train_epochs=TRAIN_EPOCHS + 1) + ['--allow_config_change'])
    assert code == 2
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert line.startswith('run.py: error: the checkpoint %s cannot be restored into the graph of this '
                           'config (cnn/features/bn2/beta: shape [16] in the checkpoint, [32] now' % checkpoint)
    assert 'Traceback' not in captured.err + captured.out
    assert [name for name in listing(model_dir) if name.endswith('.yaml')] == ['config.yaml']
    # Evaluating it with a deeper network fails in TensorFlow's restore: also one line.
    code = run.main(tiny_flags(trained_run['data'], model_dir, cnn_filters='[8, 16, 16]') + [
        '--mode', 'evaluate'])
    assert code == 2
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert 'cannot be restored' in line and 'cnn/features/bn3/beta not found in checkpoint' in line
