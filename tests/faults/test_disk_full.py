"""A disk that fills while run.py writes checkpoints, or while convert_dataset.py writes shards."""
import glob
import os
import subprocess
import uuid

import pytest

from faults.conftest import (
    assert_best_snapshot_consistent,
    checkpoint_steps,
    final_step,
    latest_step,
    read_best,
    tiny_flags,
)


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs mounted for this test (skipped where mounting is not allowed)."""
    mount_point = tmp_path / 'disk'
    mount_point.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=16m', 'tmpfs',
                              str(mount_point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip('cannot mount a small tmpfs to fill (needs root): %s' % (
            mounted.stderr.strip() or mounted.returncode))
    yield mount_point
    subprocess.run(['umount', '-l', str(mount_point)], check=True)


def fill(folder, leave_bytes):
    """Fills the file system of `folder` up to `leave_bytes` free; returns the filler file."""
    stats = os.statvfs(str(folder))
    path = os.path.join(str(folder), 'filler-%s' % uuid.uuid4().hex)
    with open(path, 'wb') as stream:
        stream.write(b'\0' * max(0, stats.f_bavail * stats.f_frsize - leave_bytes))
    return path


@pytest.mark.slow
def test_full_disk_during_training_keeps_the_last_checkpoint_and_the_best(
        shapes_tfrecords, small_disk, tool, tmp_path):
    model_dir = str(small_disk / 'model')
    flags = tiny_flags(shapes_tfrecords, model_dir)
    resume_file = str(tmp_path / 'resume')
    run = tool('run', flags, fault={'fault': 'pause', 'step': 17, 'until': resume_file})
    run.wait_for('paused at step 17')
    best_before = assert_best_snapshot_consistent(model_dir)
    filler = fill(small_disk, leave_bytes=8192)
    open(resume_file, 'w').close()

    assert run.wait() == 1, run.describe()
    message = run.stderr.strip().splitlines()[-1]
    assert message.startswith('run.py: error: ') and 'No space left on device' in message
    assert 'last complete checkpoint is step 15' in message
    assert latest_step(model_dir) == 15
    assert read_best(model_dir) == best_before
    assert_best_snapshot_consistent(model_dir)

    os.remove(filler)
    rerun = tool('run', flags)
    assert rerun.wait() == 0, rerun.describe()
    assert 'resuming from global step 15' in rerun.stdout
    assert final_step(rerun.stdout) == 30 and checkpoint_steps(model_dir)[-1] == 30
    assert_best_snapshot_consistent(model_dir, keep_best_max=2)


def test_shard_larger_than_the_disk_allows_is_an_error_and_keeps_earlier_output(
        shapes_tfrecords, tool, tmp_path):
    out = str(tmp_path / 'out')
    images = os.path.join(os.path.dirname(shapes_tfrecords['dir']), 'images', 'train')
    argv = ['--dataset_dir', images, '--tfrecord_filename', 'train', '--tfrecord_dir', out,
            '--num_workers', '1', '--max_edge', '24']
    complete = tool('convert', argv + ['--num_shards', '4'])
    assert complete.wait() == 0, complete.describe()
    before = {path: open(path, 'rb').read() for path in glob.glob(os.path.join(out, '*'))}
    largest = max(os.path.getsize(path) for path in before)

    # One shard now needs more than the largest file the process may write.
    full = tool('convert', argv + ['--num_shards', '1'], file_size_limit=largest + 1024)
    assert full.wait() == 1, full.describe()
    message = full.stderr.strip().splitlines()[-1]
    assert message.startswith('convert_dataset.py: error: ') and 'File too large' in message
    assert 'earlier output in %s is unchanged' % out in message
    after = {path: open(path, 'rb').read() for path in glob.glob(os.path.join(out, '*'))}
    assert after == before
    assert not [name for name in os.listdir(out) if name.startswith('.')]


def test_disk_full_when_the_run_saves_its_config_is_one_line_and_leaves_no_partial_file(
        shapes_tfrecords, small_disk, tool):
    model_dir = str(small_disk / 'model')
    fill(small_disk, leave_bytes=4096)  # room for the run lock, not for config.yaml
    run = tool('run', tiny_flags(shapes_tfrecords, model_dir))
    assert run.wait() == 1, run.describe()
    message = run.stderr.strip().splitlines()[-1]
    assert message.startswith('run.py: error: ') and 'No space left on device' in message
    assert 'Traceback' not in run.stderr
    assert not [name for name in os.listdir(model_dir) if name.startswith('config.yaml')]
