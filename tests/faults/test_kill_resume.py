"""SIGKILL of run.py between checkpoints, during a checkpoint write and during a best-snapshot copy;
two runs on one model_dir. Reruns of the same command resume and nothing earlier is lost."""
import json
import os
import signal

import pytest

from faults.conftest import (
    assert_best_snapshot_consistent,
    checkpoint_steps,
    final_step,
    latest_step,
    read_best,
    tiny_flags,
)

STEPS_PER_EPOCH = 15  # 60 training examples // train_batch_size 4


def read_lock(model_dir):
    with open(os.path.join(model_dir, 'run.lock')) as stream:
        return json.load(stream)


@pytest.mark.slow
def test_killed_runs_resume_from_the_last_complete_checkpoint(shapes_tfrecords, tool, tmp_path):
    model_dir = str(tmp_path / 'model')
    flags = tiny_flags(shapes_tfrecords, model_dir, train_epochs=3)
    total = 3 * STEPS_PER_EPOCH

    # 1. Killed between checkpoints (step 18: checkpoints at 5, 10, 15, best snapshot of 15).
    first = tool('run', flags, fault={'fault': 'pause', 'step': 18})
    first.wait_for(r'paused at step 18')
    best_before = read_best(model_dir)
    assert best_before['global_step'] == STEPS_PER_EPOCH

    # While it runs, a second run on the same model_dir refuses and names the first.
    second = tool('run', flags)
    assert second.wait() == 2, second.describe()
    assert second.stderr.strip().splitlines()[-1] == (
        'run.py: error: %s is in use by process %d on %s since %s; stop that run first (or '
        'delete %s if that process is gone)' % (
            model_dir, first.process.pid, os.uname().nodename,
            read_lock(model_dir)['started'], os.path.join(model_dir, 'run.lock')))
    assert first.process.poll() is None

    assert first.kill() == -signal.SIGKILL
    assert latest_step(model_dir) == 15
    assert read_best(model_dir) == best_before

    # 2. The rerun takes over the dead process's lock, resumes at 15 and is killed while
    # writing the checkpoint of step 25.
    resumed = tool('run', flags, fault={'fault': 'checkpoint_write', 'step': 25})
    assert resumed.wait() == -signal.SIGKILL, resumed.describe()
    assert 'resuming from global step 15 of %d' % total in resumed.stdout
    assert 'fault_runner: SIGKILL ' in resumed.stderr and 'step 24/%d' % total in resumed.stdout
    assert latest_step(model_dir) == 20
    assert_best_snapshot_consistent(model_dir, keep_best_max=2)

    # 3. The same command again finishes the job from step 20.
    final = tool('run', flags)
    assert final.wait() == 0, final.describe()
    assert 'resuming from global step 20 of %d' % total in final.stdout
    assert 'step 16/' not in final.stdout and 'step 21/' in final.stdout
    assert final_step(final.stdout) == total
    record = assert_best_snapshot_consistent(model_dir, keep_best_max=2)
    assert record['value'] <= best_before['value']
    assert checkpoint_steps(model_dir) == [35, 40, 45]
    assert not [name for name in os.listdir(model_dir) if '_temp' in name]
    assert not os.path.exists(os.path.join(model_dir, 'run.lock'))


def test_killed_best_snapshot_copy_is_never_the_best_and_the_rerun_takes_it(
        shapes_tfrecords, tool, tmp_path):
    model_dir = str(tmp_path / 'model')
    best_dir = os.path.join(model_dir, 'best')
    # global_step with mode max improves at every evaluation: each one takes a snapshot.
    flags = tiny_flags(shapes_tfrecords, model_dir, best_metric='global_step', best_mode='max')
    killed = tool('run', flags, fault={'fault': 'best_copy', 'copy': 2})
    assert killed.wait() == -signal.SIGKILL, killed.describe()
    record = assert_best_snapshot_consistent(model_dir)
    assert record['global_step'] == STEPS_PER_EPOCH
    leftovers = [name for name in os.listdir(best_dir) if name.startswith('.incomplete-')]
    assert len(leftovers) == 1 and os.listdir(os.path.join(best_dir, leftovers[0]))

    rerun = tool('run', flags)
    assert rerun.wait() == 0, rerun.describe()
    assert 'training already finished at step %d' % (2 * STEPS_PER_EPOCH) in rerun.stdout
    record = assert_best_snapshot_consistent(model_dir, keep_best_max=2)
    assert [entry['global_step'] for entry in record['snapshots']] == [30, 15]
    assert not [name for name in os.listdir(best_dir) if 'incomplete' in name]
