"""SIGTERM (Kubernetes, `timeout`) and SIGINT (Ctrl-C) during training: one line naming the step
and the last checkpoint, exit 143 or 130, no traceback, run.lock released; the rerun resumes."""
import os
import re
import signal
import time

import pytest

from faults.conftest import TIMEOUT, tiny_flags
from library import checkpoints


def wait_for_checkpoint(process, model_dir):
    """Waits until the state file names a checkpoint after step 0 (training is under way)."""
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and process.process.poll() is None:
        if os.path.isdir(model_dir) and checkpoints.current_step(model_dir) > 0:
            return
        time.sleep(0.05)
    raise AssertionError('no checkpoint appeared:\n' + process.describe())


@pytest.mark.parametrize('signum, code', [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_training_ends_with_one_line_and_releases_the_lock(
        shapes_tfrecords, tool, tmp_path, signum, code):
    model_dir = str(tmp_path / 'model')
    flags = tiny_flags(shapes_tfrecords, model_dir, train_epochs=100)
    run = tool('run', flags)
    wait_for_checkpoint(run, model_dir)
    run.process.send_signal(signum)
    assert run.wait() == code, run.describe()
    assert 'Traceback' not in run.stderr, run.describe()
    stopped = [line for line in run.stderr.splitlines() if 'stopped' in line]
    assert len(stopped) == 1, run.describe()
    match = re.fullmatch(
        r'run\.py: stopped by %s at step (\d+); the last checkpoint is step (\d+) \((.*)\); '
        r'rerun the same command to resume' % signal.Signals(signum).name, stopped[0])
    assert match, stopped[0]
    # The last complete checkpoint is the one the state file names: a save cut off by the signal
    # can leave newer files, which the next run moves aside (library/checkpoints.py).
    assert int(match.group(2)) == checkpoints.current_step(model_dir) <= int(match.group(1))
    assert match.group(3) == os.path.join(model_dir, 'model.ckpt-%s' % match.group(2))
    assert not os.path.exists(os.path.join(model_dir, 'run.lock'))
