"""Damaged checkpoint state in model_dir: a deleted or empty `checkpoint` file, a truncated newest
.data file, a missing .index. Training resumes from the newest checkpoint that restores and never
writes over an existing checkpoint file; evaluate and export use it too; one line says what was
skipped and why."""
import os
import re
import shutil

import pytest

import run
from faults.conftest import run_in_process, tiny_flags

STEPS_PER_EPOCH = 15  # 60 training examples // train_batch_size 4; checkpoints every 5 steps


@pytest.fixture(scope='module')
def trained_dir(shapes_tfrecords, tmp_path_factory):
    """A model_dir trained one epoch: checkpoints 5, 10 and 15, evaluated at 15 with a best snapshot."""
    model_dir = str(tmp_path_factory.mktemp('trained') / 'model')
    assert run.main(tiny_flags(shapes_tfrecords, model_dir, train_epochs=1)) == 0
    return model_dir


@pytest.fixture
def model_dir(trained_dir, tmp_path):
    """A fresh copy of the trained model_dir for one test to damage."""
    copy = str(tmp_path / 'model')
    shutil.copytree(trained_dir, copy)
    return copy


def checkpoint_files(model_dir):
    """Returns {name: (bytes, mtime)} of the model.ckpt-N files directly in `model_dir`."""
    found = {}
    for name in os.listdir(model_dir):
        if name.startswith('model.ckpt-'):
            path = os.path.join(model_dir, name)
            with open(path, 'rb') as stream:
                found[name] = (stream.read(), os.stat(path).st_mtime_ns)
    return found


def of_steps(found, steps):
    return {name: value for name, value in found.items()
            if int(re.match(r'model\.ckpt-(\d+)\.', name).group(1)) in steps}


def assert_unchanged(before, after, resumed_step):
    """Checkpoints before `resumed_step` keep their bytes and mtime; the resumed one its tensors.

    (Estimator saves the checkpoint it restored once more when training starts: the same
    .index and .data bytes, through a temporary file; its .meta graph may differ.)
    """
    older = set(range(resumed_step))
    assert of_steps(after, older) == of_steps(before, older)
    for suffix in ('.index', '.data-00000-of-00001'):
        name = 'model.ckpt-%d%s' % (resumed_step, suffix)
        assert after[name][0] == before[name][0]


def warnings(err):
    return [line for line in err.splitlines() if line.startswith('warning: ')]


def resume(data, model_dir, capfd, **overrides):
    """Trains model_dir on to two epochs, keeping every checkpoint; returns (code, out, err)."""
    flags = dict(train_epochs=2, keep_checkpoint_max=20)
    flags.update(overrides)
    return run_in_process(tiny_flags(data, model_dir, **flags), capfd)


def truncate_newest_data(model_dir):
    path = os.path.join(model_dir, 'model.ckpt-15.data-00000-of-00001')
    with open(path, 'rb') as stream:
        data = stream.read()
    with open(path, 'wb') as stream:
        stream.write(data[:len(data) // 2])
    return data[:len(data) // 2]


@pytest.mark.parametrize('damage', ['deleted', 'empty'])
def test_lost_state_file_resumes_from_the_newest_checkpoint(
        damage, shapes_tfrecords, model_dir, capfd):
    state = os.path.join(model_dir, 'checkpoint')
    if damage == 'deleted':
        os.remove(state)
    else:
        open(state, 'w').close()
    before = checkpoint_files(model_dir)
    code, out, err = resume(shapes_tfrecords, model_dir, capfd)
    assert code == 0, out + err
    assert 'resuming from global step 15 of 30' in out
    assert 'step 16/30' in out and 'step 1/30' not in out
    [line] = warnings(err)
    assert line == ('warning: %s: the checkpoint state file was missing, empty or unreadable; '
                    'it now names model.ckpt-15' % model_dir)
    assert_unchanged(before, checkpoint_files(model_dir), 15)
    assert not os.path.exists(os.path.join(model_dir, 'damaged'))


@pytest.mark.parametrize('damage', ['truncated_data', 'missing_index'])
def test_damaged_newest_checkpoint_is_moved_aside_and_training_resumes_from_the_previous(
        damage, shapes_tfrecords, model_dir, capfd):
    if damage == 'truncated_data':
        damaged_bytes = truncate_newest_data(model_dir)
        reason = 'model.ckpt-15 (Read less bytes than requested)'
    else:
        os.remove(os.path.join(model_dir, 'model.ckpt-15.index'))
        reason = 'model.ckpt-15 (no model.ckpt-15.index)'
    before = checkpoint_files(model_dir)
    code, out, err = resume(shapes_tfrecords, model_dir, capfd)
    assert code == 0, out + err
    assert 'resuming from global step 10 of 30' in out
    [line] = warnings(err)
    assert line == ('warning: %s: skipped %s, moved to %s; the checkpoint state file named '
                    'model.ckpt-15; it now names model.ckpt-10' % (
                        model_dir, reason, os.path.join(model_dir, 'damaged')))
    after = checkpoint_files(model_dir)
    assert_unchanged(before, after, 10)
    assert 'model.ckpt-15.index' in after and 'model.ckpt-30.index' in after
    damaged = sorted(os.listdir(os.path.join(model_dir, 'damaged')))
    if damage == 'truncated_data':
        assert damaged == ['model.ckpt-15.data-00000-of-00001', 'model.ckpt-15.index',
                           'model.ckpt-15.meta']
        with open(os.path.join(model_dir, 'damaged', damaged[0]), 'rb') as stream:
            assert stream.read() == damaged_bytes
    else:
        assert damaged == ['model.ckpt-15.data-00000-of-00001', 'model.ckpt-15.meta']


def test_files_of_a_save_that_did_not_finish_are_moved_aside_not_written_over(
        shapes_tfrecords, model_dir, capfd):
    with open(os.path.join(model_dir, 'checkpoint'), 'w') as stream:
        stream.write('model_checkpoint_path: "model.ckpt-10"\n')
    unfinished = of_steps(checkpoint_files(model_dir), {15})
    code, out, err = resume(shapes_tfrecords, model_dir, capfd)
    assert code == 0, out + err
    assert 'resuming from global step 10 of 30' in out
    assert warnings(err) == [
        'warning: %s: skipped model.ckpt-15 (newer than the checkpoint state file names: a save '
        'that did not finish), moved to %s; using model.ckpt-10' % (
            model_dir, os.path.join(model_dir, 'damaged'))]
    assert checkpoint_files(os.path.join(model_dir, 'damaged')) == unfinished


def test_a_second_damage_of_the_same_step_never_overwrites_the_first(
        shapes_tfrecords, model_dir, capfd):
    truncate_newest_data(model_dir)
    code, out, err = resume(shapes_tfrecords, model_dir, capfd, train_epochs=1)
    assert code == 0, out + err
    truncate_newest_data(model_dir)
    code, out, err = resume(shapes_tfrecords, model_dir, capfd, train_epochs=1)
    assert code == 0, out + err
    assert sorted(os.listdir(os.path.join(model_dir, 'damaged'))) == [
        'model.ckpt-15.1.data-00000-of-00001', 'model.ckpt-15.1.index', 'model.ckpt-15.1.meta',
        'model.ckpt-15.data-00000-of-00001', 'model.ckpt-15.index', 'model.ckpt-15.meta']


def test_evaluate_and_export_use_the_previous_checkpoint_and_change_nothing(
        shapes_tfrecords, model_dir, tmp_path, capfd):
    truncate_newest_data(model_dir)
    before = checkpoint_files(model_dir)
    flags = tiny_flags(shapes_tfrecords, model_dir)
    code, out, err = run_in_process(flags + ['--mode', 'evaluate'], capfd)
    assert code == 0, out + err
    assert 'evaluation of %s: global_step 10 ' % os.path.join(model_dir, 'model.ckpt-10') in out
    assert warnings(err) == ['warning: %s: skipped model.ckpt-15 (Read less bytes than '
                             'requested); using model.ckpt-10' % model_dir]
    assert 'Traceback' not in err

    export_dir = tmp_path / 'export'
    (export_dir / 'temp-1700000000').mkdir(parents=True)
    code, out, err = run_in_process(
        flags + ['--mode', 'export', '--export_dir', str(export_dir)], capfd)
    assert code == 0, out + err
    assert 'exported SavedModel from %s to' % os.path.join(model_dir, 'model.ckpt-10') in out
    assert 'removed %s' % (export_dir / 'temp-1700000000') in err and 'Traceback' not in err
    versions = os.listdir(str(export_dir))
    assert len(versions) == 1 and versions[0].isdigit()
    assert checkpoint_files(model_dir) == before
    assert not os.path.exists(os.path.join(model_dir, 'damaged'))


def test_checkpoint_files_that_all_fail_to_restore_stop_every_mode_with_one_line(
        shapes_tfrecords, model_dir, capfd):
    for step in (5, 10, 15):
        os.remove(os.path.join(model_dir, 'model.ckpt-%d.index' % step))
    before = checkpoint_files(model_dir)
    for mode in ('train', 'evaluate', 'export'):
        code, out, err = run_in_process(
            tiny_flags(shapes_tfrecords, model_dir) + ['--mode', mode], capfd)
        assert code == 2, out + err
        [line] = err.strip().splitlines()
        assert line == (
            'run.py: error: %s holds checkpoint files but none restores: model.ckpt-15 (no '
            'model.ckpt-15.index), model.ckpt-10 (no model.ckpt-10.index), model.ckpt-5 (no '
            'model.ckpt-5.index); move them away (or use another model_dir) to start over'
            % model_dir)
    assert checkpoint_files(model_dir) == before


def test_damaged_checkpoint_given_by_path_is_one_line(shapes_tfrecords, model_dir, capfd):
    truncate_newest_data(model_dir)
    prefix = os.path.join(model_dir, 'model.ckpt-15')
    code, out, err = run_in_process(tiny_flags(shapes_tfrecords, model_dir) + [
        '--mode', 'evaluate', '--checkpoint', prefix], capfd)
    assert code == 2, out + err
    assert err.strip() == ('run.py: error: --checkpoint %s: checkpoint %s does not restore '
                           '(Read less bytes than requested)' % (prefix, prefix))


def test_failed_export_leaves_no_temporary_folder(shapes_tfrecords, model_dir, tmp_path,
                                                  monkeypatch, capfd):
    from library import export

    def failing_receiver(recipe, params):
        def receiver():
            raise RuntimeError('receiver failed')
        return receiver
    monkeypatch.setattr(export, 'serving_input_receiver_fn', failing_receiver)
    export_dir = tmp_path / 'export'
    with pytest.raises(RuntimeError, match='receiver failed'):
        run.main(tiny_flags(shapes_tfrecords, model_dir) + [
            '--mode', 'export', '--export_dir', str(export_dir)])
    assert os.listdir(str(export_dir)) == []
