"""Corrupt TFRecords given to run.py: a clear error naming the file, or skip-and-count with
skip_corrupt: true; never a silent wrong result."""
import os
import re

import pytest
import tensorflow as tf

from faults.conftest import latest_step, run_in_process, tiny_flags
from library import dataset_info, tfrecord_schema

GOOD_RECORDS = 8


def good_records(shapes_tfrecords):
    """Returns the first GOOD_RECORDS serialized training records of the shapes set."""
    files = sorted(tf.io.gfile.glob(shapes_tfrecords['train_files']))
    return [record.numpy() for record in tf.data.TFRecordDataset(files).take(GOOD_RECORDS)]


def with_feature(record, key, value=None):
    """Returns `record` with bytes feature `key` set to `value` (removed when None)."""
    example = tf.train.Example.FromString(record)
    if value is None:
        del example.features.feature[key]
    elif isinstance(value, int):
        example.features.feature[key].int64_list.value[:] = [value]
    else:
        example.features.feature[key].bytes_list.value[:] = [value]
    return example.SerializeToString()


@pytest.fixture(scope='module')
def corrupt_sets(shapes_tfrecords, tmp_path_factory):
    """One-shard sets named for their fault, each of good records plus one bad, with <name>.json."""
    folder = str(tmp_path_factory.mktemp('corrupt'))
    good = good_records(shapes_tfrecords)
    info = dataset_info.read(shapes_tfrecords['train_json'])
    bad_records = {
        'broken_image': with_feature(good[0], tfrecord_schema.ENCODED, b'\xff\xd8\xff' + b'\0' * 64),
        'missing_keys': with_feature(with_feature(good[0], tfrecord_schema.ENCODED),
                                     tfrecord_schema.LABEL),
        'label_outside': with_feature(good[0], tfrecord_schema.LABEL, 7),
    }
    sets = {}
    for name, bad in list(bad_records.items()) + [('truncated', None)]:
        shard = os.path.join(folder, dataset_info.shard_file_name(name, 0, 1))
        records = good[:4] + ([bad] if bad else []) + good[4:]
        with tf.io.TFRecordWriter(shard) as writer:
            for record in records:
                writer.write(record)
        if bad is None:
            with open(shard, 'rb') as stream:
                data = stream.read()
            with open(shard, 'wb') as stream:
                stream.write(data[:len(data) - 100])
        dataset_info.write(dataset_info.info_path(folder, name), {
            'name': name, 'count': len(records), 'classes': info['classes'],
            'shards': [os.path.basename(shard)], 'skipped': []})
        sets[name] = shard
    return sets


EXPECTED_PROBLEM = {
    'truncated': r'record 7 of \S+truncated-00000-of-00001.tfrecord: the shard is truncated',
    'broken_image': r'record 4 of \S+broken_image-00000-of-00001.tfrecord: the image cannot be decoded',
    'missing_keys': r'record 4 of \S+missing_keys-00000-of-00001.tfrecord: no image bytes',
    'label_outside': r'record 4 of \S+label_outside-00000-of-00001.tfrecord: label 7 outside 0..2',
}


@pytest.mark.parametrize('fault', sorted(EXPECTED_PROBLEM))
def test_corrupt_record_is_a_one_line_error_naming_the_file_and_record(
        fault, corrupt_sets, shapes_tfrecords, tmp_path, capfd):
    data = dict(shapes_tfrecords, train_files=corrupt_sets[fault], eval_files=corrupt_sets[fault])
    model_dir = str(tmp_path / 'model')
    code, out, err = run_in_process(
        tiny_flags(data, model_dir, max_train_steps=6, shuffle_buffer=1) + ['--mode', 'train'],
        capfd)
    assert code == 2, out + err
    message = err.strip().splitlines()[-1]
    assert message.startswith('run.py: error: input_fn: ')
    assert re.search(EXPECTED_PROBLEM[fault], message), message
    assert message.endswith('; set skip_corrupt: true to skip such records')
    assert latest_step(model_dir) == 0  # only the initial checkpoint, no trained step


def test_skip_corrupt_trains_on_the_good_records_and_counts_the_bad(
        corrupt_sets, shapes_tfrecords, tmp_path, capfd):
    train_files = ','.join(corrupt_sets[name] for name in sorted(corrupt_sets))
    data = dict(shapes_tfrecords, train_files=train_files)
    model_dir = str(tmp_path / 'model')
    code, out, err = run_in_process(
        tiny_flags(data, model_dir, skip_corrupt='true', num_classes=None,
                   eval_batch_size=GOOD_RECORDS) + ['--mode', 'train'], capfd)
    assert code == 0, out + err
    # 35 records counted, 31 readable: each epoch of input gives 7 batches instead of 8, and
    # training reads the input again until it reaches the 2 x 8 steps of train_epochs 2.
    assert 'trained to step 16' in out
    skipped = set(re.findall(r'input_fn: skipped record \d+ of \S+/(\w+)-00000', err))
    assert skipped == set(corrupt_sets)

    evaluate = tiny_flags(dict(shapes_tfrecords, eval_files=corrupt_sets['broken_image']),
                          model_dir, eval_batch_size=1, max_eval_steps=None) + ['--mode', 'evaluate']
    code, out, err = run_in_process(evaluate, capfd)
    assert code == 2 and re.search(EXPECTED_PROBLEM['broken_image'], err), out + err
    code, out, err = run_in_process(evaluate + ['--skip_corrupt', 'true'], capfd)
    assert code == 0, out + err
    assert '(1 skipped so far)' in err
    assert re.search(r'global_step 16 ', out)


def test_a_shard_cut_after_conversion_is_refused_before_training(shapes_tfrecords, tmp_path, capfd):
    """convert_dataset.py records each shard's bytes and records in <name>.json; a shard whose size
    no longer matches is refused when the input starts, before any step."""
    source = os.path.dirname(shapes_tfrecords['train_json'])
    folder = tmp_path / 'copy'
    folder.mkdir()
    for name in os.listdir(source):
        if name.startswith('train'):
            with open(os.path.join(source, name), 'rb') as stream:
                (folder / name).write_bytes(stream.read())
    info = dataset_info.read(str(folder / 'train.json'))
    shards = info['shard_sizes']
    assert sum(shard['records'] for shard in shards) == info['count']
    assert all(shard['bytes'] == (folder / shard['file']).stat().st_size for shard in shards)
    path = folder / shards[0]['file']
    path.write_bytes(path.read_bytes()[:-100])
    data = dict(shapes_tfrecords, train_files=str(folder / 'train-*.tfrecord'))
    model_dir = str(tmp_path / 'model')
    code, out, err = run_in_process(tiny_flags(data, model_dir) + ['--mode', 'train'], capfd)
    assert code == 2, out + err
    [line] = err.strip().splitlines()
    assert re.search(r'run\.py: error: train_files: \S+train-00000-of-00002\.tfrecord is \d+ bytes but '
                     r'train\.json records \d+ \(cut off or replaced', line), line
    assert not os.path.exists(os.path.join(model_dir, 'checkpoint'))
