"""Shared fixtures: a tiny shapes dataset converted to TFRecords once per test session."""
import os

import pytest


@pytest.fixture(scope='session')
def shapes_tfrecords(tmp_path_factory):
    """Tiny labelled shapes set (3 classes, 20 train / 8 test per class, 40-80 px) as TFRecords.

    Returns {'train_files', 'eval_files': shard patterns, 'train_json': path, 'dir': folder}.
    """
    from library import convert, demo_data
    root = str(tmp_path_factory.mktemp('shapes'))
    folders = demo_data.generate(os.path.join(root, 'images'), train_per_class=20,
                                 test_per_class=8, seed=0, min_edge=40, max_edge=80)
    out = os.path.join(root, 'tfrecords')
    train = convert.convert_folder(folders['train'], out, 'train', num_shards=2, num_workers=1,
                                   show_progress=False)
    convert.convert_folder(folders['test'], out, 'test', num_shards=1, num_workers=1,
                           labels_file=train['info_path'], show_progress=False)
    return {'train_files': os.path.join(out, 'train-*.tfrecord'),
            'eval_files': os.path.join(out, 'test-*.tfrecord'),
            'train_json': train['info_path'],
            'dir': out}
