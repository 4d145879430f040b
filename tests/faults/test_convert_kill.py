"""SIGKILL of convert_dataset.py while it renames finished shards into place: no partial shard
set is ever described as complete, training refuses it, and the rerun finishes the job."""
import os
import signal

import pytest
import tensorflow as tf

import convert_dataset
from faults.conftest import run_in_process, tiny_flags
from library import dataset_info


@pytest.fixture
def killed_conversion(shapes_tfrecords, tool, tmp_path):
    """A complete 3-shard conversion, then a 2-shard rerun killed after its first shard rename."""
    images = os.path.join(os.path.dirname(shapes_tfrecords['dir']), 'images', 'train')
    out = str(tmp_path / 'out')
    argv = ['--dataset_dir', images, '--tfrecord_filename', 'train', '--tfrecord_dir', out,
            '--num_workers', '1', '--max_edge', '24']
    assert convert_dataset.main(argv + ['--num_shards', '3']) == 0
    killed = tool('convert', argv + ['--num_shards', '2'],
                  fault={'fault': 'shard_rename', 'renames': 1})
    assert killed.wait() == -signal.SIGKILL, killed.describe()
    assert 'SIGKILL after 1 shard renames' in killed.stderr
    return {'argv': argv + ['--num_shards', '2'], 'out': out,
            'pattern': os.path.join(out, 'train-*.tfrecord')}


def test_killed_conversion_is_refused_by_training_and_the_rerun_completes(
        killed_conversion, shapes_tfrecords, tmp_path, capfd):
    out = killed_conversion['out']
    assert sorted(name for name in os.listdir(out) if not name.startswith('.')) == [
        'train-00000-of-00002.tfrecord']
    assert dataset_info.load(killed_conversion['pattern']) is None

    data = dict(shapes_tfrecords, train_files=killed_conversion['pattern'])
    code, stdout, stderr = run_in_process(tiny_flags(data, str(tmp_path / 'model')), capfd)
    assert code == 2, stdout + stderr
    assert 'no dataset description' in stderr and killed_conversion['pattern'] in stderr

    assert convert_dataset.main(killed_conversion['argv']) == 0
    info = dataset_info.load(killed_conversion['pattern'])
    assert info['count'] == 60 and info['shards'] == [
        'train-00000-of-00002.tfrecord', 'train-00001-of-00002.tfrecord']
    assert sorted(os.listdir(out)) == info['shards'] + ['train.json']
    records = tf.data.TFRecordDataset(sorted(tf.io.gfile.glob(killed_conversion['pattern'])))
    assert sum(1 for _ in records) == 60


def test_incomplete_shard_set_is_refused_even_with_num_classes_given(
        killed_conversion, shapes_tfrecords, tmp_path, capfd):
    data = dict(shapes_tfrecords, train_files=killed_conversion['pattern'])
    code, stdout, stderr = run_in_process(
        tiny_flags(data, str(tmp_path / 'model'), num_classes=3, max_train_steps=1)
        + ['--mode', 'train'], capfd)
    assert code == 2 and 'train-00001-of-00002.tfrecord' in stderr, stdout + stderr
