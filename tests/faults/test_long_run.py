"""Long-run stability: 2,000 short steps with an evaluation every 100 keep memory flat and the
checkpoint files bounded by keep_checkpoint_max and keep_best_max."""
import os
import re
import time

import pytest

from faults.conftest import TIMEOUT, assert_best_snapshot_consistent, checkpoint_steps, tiny_flags

TOTAL_STEPS = 2000
EVAL_EVERY = 100
WARM_UP_EVALUATIONS = 5


def rss_bytes(pid):
    """Returns the resident set size of process `pid`."""
    with open('/proc/%d/status' % pid) as stream:
        return int(re.search(r'VmRSS:\s+(\d+) kB', stream.read()).group(1)) * 1024


@pytest.mark.slow
def test_memory_stays_flat_and_checkpoints_stay_bounded(shapes_tfrecords, tool, tmp_path):
    model_dir = str(tmp_path / 'model')
    # 60 examples // batch 3 = 20 steps per epoch; an evaluation every 5 epochs = 100 steps.
    # best_metric global_step (max) improves at every evaluation: 20 snapshots, 2 kept.
    flags = tiny_flags(shapes_tfrecords, model_dir, image_size=8, cnn_filters='[4]',
                       train_batch_size=3, eval_batch_size=4, train_epochs=TOTAL_STEPS // 20,
                       epochs_between_evals=EVAL_EVERY // 20, save_checkpoints_steps=50,
                       log_step_count_steps=500, keep_checkpoint_max=3, keep_best_max=2,
                       best_metric='global_step', best_mode='max')
    run = tool('run', flags)
    rss = {}
    deadline = time.time() + 4 * TIMEOUT
    while run.process.poll() is None and time.time() < deadline:
        for step in re.findall(r'^evaluation: global_step (\d+)', run.stdout, re.M):
            if int(step) not in rss:
                rss[int(step)] = rss_bytes(run.process.pid)
        time.sleep(0.05)
    assert run.wait(timeout=60) == 0, run.describe()

    steps = sorted(rss)
    assert len(re.findall(r'^evaluation: ', run.stdout, re.M)) == TOTAL_STEPS // EVAL_EVERY
    assert len(steps) >= TOTAL_STEPS // EVAL_EVERY - 2
    # Each sample lands somewhere in an evaluation's build-run-free cycle (+-40 MB), so peaks are
    # compared with peaks: a leak makes the second half's peak outgrow the first half's.
    settled = steps[WARM_UP_EVALUATIONS:]
    first_half, second_half = settled[:len(settled) // 2], settled[len(settled) // 2:]
    reference = max(rss[step] for step in first_half)
    assert max(rss[step] for step in second_half) < 1.10 * reference, {
        step: rss[step] // 2 ** 20 for step in steps}

    assert checkpoint_steps(model_dir) == [1900, 1950, 2000]
    assert len([name for name in os.listdir(model_dir) if name.startswith('model.ckpt-')]) == 9
    record = assert_best_snapshot_consistent(model_dir, keep_best_max=2)
    assert [entry['global_step'] for entry in record['snapshots']] == [2000, 1900]
    assert sorted(os.listdir(os.path.join(model_dir, 'best'))) == [
        'best.json', 'step-1900', 'step-2000']
