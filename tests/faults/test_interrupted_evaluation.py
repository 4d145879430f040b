"""A run stopped after the checkpoint of an evaluation point but before that evaluation finished:
the resumed run evaluates that checkpoint first, so it competes for the best snapshot."""
import os
import shutil

from faults.conftest import read_best, run_in_process, tiny_flags

STEPS_PER_EPOCH = 15  # 60 training examples // train_batch_size 4


def evaluation_steps(out):
    return [int(line.split()[2]) for line in out.splitlines() if line.startswith('evaluation: ')]


def test_checkpoint_whose_evaluation_never_finished_is_evaluated_before_training_goes_on(
        shapes_tfrecords, tmp_path, capfd):
    model_dir = str(tmp_path / 'model')
    # Stopped right after the checkpoint of the first evaluation point: the train mode
    # writes it and never evaluates.
    code, out, err = run_in_process(tiny_flags(shapes_tfrecords, model_dir, train_epochs=1) + [
        '--mode', 'train'], capfd)
    assert code == 0, out + err
    assert not os.path.exists(os.path.join(model_dir, 'eval'))

    flags = tiny_flags(shapes_tfrecords, model_dir, train_epochs=2)
    code, out, err = run_in_process(flags, capfd)
    assert code == 0, out + err
    lines = out.splitlines()
    first = lines.index('evaluating the checkpoint of step 15 first: its evaluation never finished')
    assert lines[first + 1].startswith('evaluation: global_step 15 ')
    assert lines[first + 2].startswith('new best snapshot: best loss ')
    assert first < lines.index(next(line for line in lines if line.startswith('step 16/30')))
    assert evaluation_steps(out) == [15, 30]
    assert 15 in [entry['global_step'] for entry in read_best(model_dir)['snapshots']]

    # A checkpoint whose evaluation finished is not evaluated again.
    code, out, err = run_in_process(tiny_flags(shapes_tfrecords, model_dir, train_epochs=3), capfd)
    assert code == 0, out + err
    assert 'first: its evaluation never finished' not in out
    assert evaluation_steps(out) == [45]


def test_evaluation_cut_off_before_its_events_is_redone(shapes_tfrecords, tmp_path, capfd):
    model_dir = str(tmp_path / 'model')
    flags = tiny_flags(shapes_tfrecords, model_dir, train_epochs=1, best_metric='global_step',
                       best_mode='max')
    code, out, err = run_in_process(flags, capfd)
    assert code == 0, out + err
    # What a kill during the evaluation leaves: no evaluation events and no snapshot of step 15.
    shutil.rmtree(os.path.join(model_dir, 'eval'))
    shutil.rmtree(os.path.join(model_dir, 'best'))
    code, out, err = run_in_process(
        tiny_flags(shapes_tfrecords, model_dir, train_epochs=2, best_metric='global_step',
                   best_mode='max', keep_best_max=2), capfd)
    assert code == 0, out + err
    assert evaluation_steps(out) == [15, 30]
    assert [entry['global_step'] for entry in read_best(model_dir)['snapshots']] == [30, 15]
