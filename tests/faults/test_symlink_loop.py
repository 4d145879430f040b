"""Symbolic links in an image folder: a loop is not followed and each real file is read once,
with its own class, by convert_dataset.py and by training straight from the folder."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import convert_dataset
from library import image_folders

COLOURS = {'circle': (200, 30, 30), 'square': (30, 200, 30)}


@pytest.fixture
def looped_folder(tmp_path):
    """train/{circle,square} with 3 PNGs each, plus circle/loop -> .. (the train folder),
    square/up -> ../../.. (above it) and square/alias -> ../circle (another class)."""
    train = tmp_path / 'dataset' / 'train'
    for name, colour in COLOURS.items():
        (train / name).mkdir(parents=True)
        for index in range(3):
            Image.new('RGB', (12, 10), colour).save(str(train / name / ('%d.png' % index)))
    os.symlink('..', str(train / 'circle' / 'loop'))
    os.symlink('../../..', str(train / 'square' / 'up'))
    os.symlink('../circle', str(train / 'square' / 'alias'))
    return str(train)


def test_conversion_reads_each_real_file_once_and_reports_the_loops(looped_folder, tmp_path, capsys):
    out = str(tmp_path / 'out')
    assert convert_dataset.main(['--dataset_dir', looped_folder, '--tfrecord_filename', 'train',
                                 '--tfrecord_dir', out, '--num_workers', '1']) == 0
    with open(os.path.join(out, 'train.json')) as stream:
        info = json.load(stream)
    assert info['count'] == 6 and info['class_counts'] == [3, 3]
    reasons = {skip['file']: skip['reason'] for skip in info['skipped']}
    assert reasons['circle/loop'].startswith('symbolic link loop: it leads to %s' % os.path.realpath(
        looped_folder))
    assert reasons['square/up'].startswith('symbolic link loop')
    assert reasons['square/alias/0.png'] == (
        'the same file as circle/0.png (reached again through a symbolic link)')

    records = tf.data.TFRecordDataset(tf.io.gfile.glob(os.path.join(out, 'train-*.tfrecord')))
    for record in records:
        example = tf.train.Example.FromString(record.numpy()).features.feature
        text = example['image/class/text'].bytes_list.value[0].decode()
        pixels = tf.io.decode_image(example['image/encoded'].bytes_list.value[0]).numpy()
        assert np.abs(pixels[0, 0].astype(int) - COLOURS[text]).max() < 10, text
        assert example['image/filename'].bytes_list.value[0].decode().startswith(text + '/')
    assert 'skipped 6' in capsys.readouterr().out


def test_training_from_the_folder_lists_the_same_files(looped_folder):
    found = image_folders.listing(looped_folder, 'train_files')
    listed = sorted(os.path.relpath(path, looped_folder) for path in found.paths)
    assert listed == ['circle/%d.png' % index for index in range(3)] + [
        'square/%d.png' % index for index in range(3)]
    assert found.labels.count(0) == 3 and found.labels.count(1) == 3
    assert {skip['file'] for skip in found.skipped} >= {'circle/loop', 'square/up'}
    assert np.array_equal(image_folders.describe(looped_folder)['class_counts'], [3, 3])
