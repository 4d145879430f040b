"""Shared fixtures: a tiny shapes dataset converted to TFRecords once per test session, and the tiny
colour-coded set with a cnn trained on it (helpers in test_training.py)."""
import os

import pytest

from test_training import EVAL_PER_CLASS, TRAIN_PER_CLASS, build_once, run_main, tiny_flags, write_colour_set


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


@pytest.fixture(scope='module')
def colour_tfrecords(tmp_path_factory):
    """A learnable set: images whose dominant colour is the class (red, green, blue)."""
    def build(folder):
        write_colour_set(str(folder), 'train', TRAIN_PER_CLASS, seed=0)
        write_colour_set(str(folder), 'test', EVAL_PER_CLASS, seed=10000)
    folder = build_once(tmp_path_factory, 'colour_tfrecords', build)
    return {'train_files': str(folder / 'train-*.tfrecord'),
            'eval_files': str(folder / 'test-*.tfrecord')}


@pytest.fixture(scope='module')
def trained_run(colour_tfrecords, tmp_path_factory):
    """A cnn trained by `run.py` (train_and_evaluate) on the colour set, and its stdout."""
    def build(folder):
        code, output = run_main(tiny_flags(colour_tfrecords, str(folder / 'model')))
        (folder / 'stdout.txt').write_text(output)
        (folder / 'exit_code').write_text(str(code))
    folder = build_once(tmp_path_factory, 'trained_cnn', build)
    return {'model_dir': str(folder / 'model'), 'stdout': (folder / 'stdout.txt').read_text(),
            'exit_code': int((folder / 'exit_code').read_text()), 'data': colour_tfrecords}
