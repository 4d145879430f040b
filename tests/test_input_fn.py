"""project/input_fn.py on library/data/: shapes, ranges, determinism, old keys, formats, cache, corrupt data,
sharding."""
import io
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import run
from library import config as config_lib
from library import input_benchmark
from library import tfrecord_schema as schema
from library.config import ConfigError
from library.data import cache as cache_lib
from library.data import decode, diagnose
from project import input_fn as input_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 16
TRAIN = tf.estimator.ModeKeys.TRAIN
EVAL = tf.estimator.ModeKeys.EVAL
PREDICT = tf.estimator.ModeKeys.PREDICT


def encode(array, image_format):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, image_format)
    return buffer.getvalue()


def random_image(rng, height, width, channels=3):
    shape = (height, width) if channels == 1 else (height, width, channels)
    return (rng.random(shape) * 255).astype(np.uint8)


def example(encoded, label, height=0, width=0, image_format='jpeg'):
    return schema.image_example(encoded, image_format, height, width, 3, label=label).SerializeToString()


def legacy_example(encoded, label, height, width):
    feature = {
        schema.LEGACY_ENCODED: tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        schema.LEGACY_HEIGHT: tf.train.Feature(int64_list=tf.train.Int64List(value=[height])),
        schema.LEGACY_WIDTH: tf.train.Feature(int64_list=tf.train.Int64List(value=[width])),
        schema.LEGACY_CHANNELS: tf.train.Feature(int64_list=tf.train.Int64List(value=[3])),
        schema.LEGACY_LABEL: tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_records(path, records):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return str(path)


def make_params(train_files, eval_files=None, **overrides):
    argv = ['--config_file', os.path.join(ROOT, 'project.yaml'), '--train_files', str(train_files),
            '--eval_files', str(eval_files or train_files), '--image_size', str(SIZE),
            '--train_batch_size', '4', '--eval_batch_size', '4', '--shuffle_buffer', '8', '--model_dir', '']
    _, config = config_lib.parse(argv)
    params = dict(config)
    params.update(overrides)
    return params


def collect(dataset):
    """Returns (images, labels) of all batches as NumPy arrays."""
    images, labels = [], []
    for features, batch_labels in dataset:
        images.append(features['image'].numpy())
        labels.append(batch_labels.numpy())
    return np.concatenate(images), np.concatenate(labels)


@pytest.fixture(scope='module')
def mixed_records(tmp_path_factory):
    """12 labelled images of mixed sizes in two shards: RGB JPEGs, RGB PNGs and grayscale PNGs."""
    folder = tmp_path_factory.mktemp('mixed')
    rng = np.random.default_rng(0)
    records = []
    for index in range(12):
        height, width = int(rng.integers(20, 90)), int(rng.integers(20, 90))
        kind = index % 3
        if kind == 0:
            encoded = encode(random_image(rng, height, width), 'JPEG')
        elif kind == 1:
            encoded = encode(random_image(rng, height, width), 'PNG')
        else:
            encoded = encode(random_image(rng, height, width, channels=1), 'PNG')
        records.append(example(encoded, index, height, width))
    write_records(folder / 'mixed-00000-of-00002.tfrecord', records[:6])
    write_records(folder / 'mixed-00001-of-00002.tfrecord', records[6:])
    return str(folder / 'mixed-*.tfrecord')


@pytest.mark.parametrize('channels', [3, 1])
def test_modes_give_documented_shapes_dtypes_and_ranges(mixed_records, channels):
    params = make_params(mixed_records, channels=channels)
    images, labels = collect(input_lib.input_fn(TRAIN, params, epochs=1))
    assert images.shape == (12, SIZE, SIZE, channels) and images.dtype == np.float32
    assert labels.dtype == np.int32 and sorted(labels) == list(range(12))
    assert images.min() >= 0.0 and images.max() <= 255.0 and images.std() > 10.0
    images, labels = collect(input_lib.input_fn(EVAL, params))
    assert images.shape == (12, SIZE, SIZE, channels) and sorted(labels) == list(range(12))
    predictions = list(input_lib.input_fn(PREDICT, params))
    assert all(set(batch) == {'image'} for batch in predictions)
    assert sum(batch['image'].shape[0] for batch in predictions) == 12


def test_training_repeats_epochs_and_drops_the_remainder(mixed_records):
    params = make_params(mixed_records, train_batch_size=5)
    batches = list(input_lib.input_fn(TRAIN, params, epochs=2))
    assert len(batches) == 24 // 5
    assert all(labels.shape == (5,) for _, labels in batches)


def test_evaluation_order_and_values_are_deterministic(mixed_records):
    params = make_params(mixed_records)
    first = collect(input_lib.input_fn(EVAL, params))
    second = collect(input_lib.input_fn(EVAL, params))
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(first[0], second[0])


def test_serving_preprocessing_is_the_evaluation_preprocessing(tmp_path):
    rng = np.random.default_rng(1)
    encoded = encode(random_image(rng, 70, 50), 'JPEG')
    path = write_records(tmp_path / 'one.tfrecord', [example(encoded, 0)])
    params = make_params(path)
    images, _ = collect(input_lib.input_fn(EVAL, params))
    served = input_lib.preprocess_for_serving(tf.constant(encoded), params).numpy()
    np.testing.assert_allclose(images[0], served, atol=1e-6)


def test_gif_and_bmp_records_give_the_pixels_of_the_same_png(tmp_path):
    """GIF and BMP have no end marker to check, so they take the guarded decode; it must give the PNG's pixels."""
    rng = np.random.default_rng(7)
    palette = rng.integers(0, 256, (8, 3), dtype=np.uint8)
    array = palette[rng.integers(0, 8, (30, 40))]
    records = [example(encode(array, image_format), label, image_format=image_format.lower())
               for label, image_format in enumerate(['PNG', 'GIF', 'BMP'])]
    params = make_params(write_records(tmp_path / 'formats.tfrecord', records), eval_batch_size=3,
                         train_batch_size=3)
    images, labels = collect(input_lib.input_fn(EVAL, params))
    assert list(labels) == [0, 1, 2] and images.std() > 10.0
    np.testing.assert_array_equal(images[1], images[0])
    np.testing.assert_array_equal(images[2], images[0])
    images, labels = collect(input_lib.input_fn(TRAIN, params, epochs=1))
    assert images.shape == (3, SIZE, SIZE, 3) and sorted(labels) == [0, 1, 2]


def test_training_crop_windows_are_reproducible_with_random_seed(mixed_records):
    def crops(seed):
        params = make_params(mixed_records, random_seed=seed)
        images, labels = collect(input_lib.input_fn(TRAIN, params, epochs=2))
        order = np.lexsort((np.arange(len(labels)) % 12 >= 0, labels))
        return images[order], labels[order]
    first, second, other = crops(7), crops(7), crops(8)
    np.testing.assert_array_equal(first[1], second[1])
    assert sorted(map(bytes, first[0])) == sorted(map(bytes, second[0]))
    assert sorted(map(bytes, first[0])) != sorted(map(bytes, other[0]))


def test_training_batches_are_identical_in_order_with_random_seed(mixed_records):
    first, second = (collect(input_lib.input_fn(TRAIN, make_params(mixed_records, random_seed=5), epochs=2))
                     for _ in range(2))
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(first[0], second[0])


def test_random_flip_mirrors_about_half_the_training_crops(mixed_records):
    def crops(flip):
        params = make_params(mixed_records, random_seed=3, random_flip=flip)
        return collect(input_lib.input_fn(TRAIN, params, epochs=2))[0]
    plain, flipped = crops(False), crops(True)

    def closest(image, candidates):
        return np.abs(candidates - image).reshape(len(candidates), -1).max(axis=1).min()
    kept = [closest(image, plain) < 1e-3 for image in flipped]
    mirrored = [closest(image[:, ::-1], plain) < 1e-3 for image in flipped]
    assert all(a or b for a, b in zip(kept, mirrored))
    assert 0 < sum(mirrored) < len(flipped)


def test_older_record_keys_are_read(tmp_path):
    rng = np.random.default_rng(2)
    records = [legacy_example(encode(random_image(rng, 30, 40), 'JPEG'), label, 30, 40) for label in range(4)]
    path = write_records(tmp_path / 'legacy.tfrecord', records)
    images, labels = collect(input_lib.input_fn(EVAL, make_params(path)))
    assert images.shape == (4, SIZE, SIZE, 3) and sorted(labels) == [0, 1, 2, 3]


def test_records_with_older_and_schema_keys_mix_in_one_shard(tmp_path):
    rng = np.random.default_rng(3)
    images = [encode(random_image(rng, 30, 40), 'JPEG') for _ in range(5)]
    records = [example(images[0], 0), legacy_example(images[1], 1, 30, 40), example(images[2], 2),
               legacy_example(images[3], 3, 30, 40), example(images[4], schema.UNLABELLED)]
    path = write_records(tmp_path / 'mixed-keys.tfrecord', records)
    decoded, labels = collect(input_lib.input_fn(EVAL, make_params(path)))
    alone, _ = collect(input_lib.input_fn(EVAL, make_params(write_records(tmp_path / 'one.tfrecord', [
        legacy_example(images[1], 1, 30, 40)]))))
    assert list(labels) == [0, 1, 2, 3, schema.UNLABELLED]
    assert np.array_equal(decoded[1], alone[0]) and decoded.std(axis=(1, 2, 3)).min() > 10


def test_jpeg_training_and_evaluation_decode_only_the_crop_window(mixed_records):
    params = make_params(mixed_records)
    for mode in (TRAIN, EVAL):
        graph = tf.compat.v1.GraphDef.FromString(
            input_lib.input_fn(mode, params, epochs=1)._as_serialized_graph().numpy())
        ops = {node.op for node in graph.node}
        for function in graph.library.function:
            ops.update(node.op for node in function.node_def)
        assert 'DecodeAndCropJpeg' in ops
        assert 'DecodeJpeg' not in ops


def test_reduced_dct_decoding_takes_the_window_in_scaled_coordinates():
    rng = np.random.default_rng(3)
    pattern = np.kron(random_image(rng, 16, 16), np.ones((16, 16, 1), np.uint8))
    encoded = tf.constant(encode(pattern, 'JPEG'))
    window = tf.constant([40, 72, 160, 128])
    assert int(decode.dct_ratio_index(window, SIZE)) == 3
    reduced = decode.decode_jpeg_window(encoded, window, 3, SIZE)
    assert reduced.shape == (20, 16, 3)
    full = tf.io.decode_jpeg(encoded)[40:200, 72:200]
    expected = tf.image.resize(full, [20, 16], method='area')
    assert float(tf.reduce_mean(tf.abs(tf.cast(reduced, tf.float32) - expected))) < 12.0


def test_cache_directory_is_reused_and_a_setting_change_makes_a_new_cache(mixed_records, tmp_path):
    cache = str(tmp_path / 'cache')
    params = make_params(mixed_records, cache=cache)
    list(input_lib.input_fn(TRAIN, params, epochs=1))
    first = sorted(os.listdir(cache))
    assert any(name.endswith('.index') for name in first)
    images, labels = collect(input_lib.input_fn(TRAIN, params, epochs=1))
    assert sorted(os.listdir(cache)) == first and sorted(labels) == list(range(12))
    list(input_lib.input_fn(TRAIN, make_params(mixed_records, cache=cache, channels=1), epochs=1))
    list(input_lib.input_fn(EVAL, make_params(mixed_records, cache=cache)))
    prefixes = {name.split('.')[0].split('_')[0] for name in os.listdir(cache) if name.endswith('.index')}
    assert len(prefixes) == 3


def test_memory_cache_trains_and_refuses_when_ram_is_short(mixed_records, monkeypatch):
    params = make_params(mixed_records, cache='memory')
    images, labels = collect(input_lib.input_fn(TRAIN, params, epochs=2))
    assert images.shape == (24, SIZE, SIZE, 3) and sorted(labels) == sorted(list(range(12)) * 2)
    monkeypatch.setattr(cache_lib, 'available_memory_bytes', lambda: 1000)
    with pytest.raises(ConfigError, match='cache: memory needs about .* set cache to a directory'):
        input_lib.input_fn(TRAIN, params)


@pytest.fixture(scope='module')
def corrupt_records(tmp_path_factory):
    """One shard of 3 good JPEGs plus broken ones, and one truncated shard."""
    folder = tmp_path_factory.mktemp('corrupt')
    rng = np.random.default_rng(4)
    good = [example(encode(random_image(rng, 24, 24), 'JPEG'), label) for label in range(3)]
    truncated_jpeg = encode(random_image(rng, 24, 24), 'JPEG')[:200]
    bad = [example(truncated_jpeg, 0), example(b'not an image at all', 1),
           tf.train.Example().SerializeToString(), b'\x01 raw bytes, not an Example']
    write_records(folder / 'bad-00000-of-00002.tfrecord', good + bad)
    shard = write_records(folder / 'bad-00001-of-00002.tfrecord', good)
    with open(shard, 'rb') as stream:
        data = stream.read()
    with open(shard, 'wb') as stream:
        stream.write(data[:-30])
    return folder


def test_corrupt_record_fails_and_the_diagnosis_names_the_record(corrupt_records):
    params = make_params(str(corrupt_records / 'bad-00000-of-00002.tfrecord'))
    with pytest.raises(tf.errors.InvalidArgumentError):
        collect(input_lib.input_fn(EVAL, params))
    assert diagnose.first_problem(params, 'eval_files') == (
        'input_fn: record 3 of %s: the image cannot be decoded (the warning logged above says why); '
        'set skip_corrupt: true to skip such records' % params['eval_files'])
    params = make_params(str(corrupt_records / 'bad-00001-of-00002.tfrecord'))
    with pytest.raises(tf.errors.DataLossError):
        collect(input_lib.input_fn(EVAL, params))
    assert re.match(r'input_fn: record 2 of \S+bad-00001-of-00002.tfrecord: the shard is truncated',
                    diagnose.first_problem(params, 'eval_files'))


def test_the_diagnosis_of_clean_data_finds_nothing(mixed_records):
    assert diagnose.input_problem(make_params(mixed_records)) is None


def test_skip_corrupt_skips_and_counts(corrupt_records, capfd):
    params = make_params(str(corrupt_records / 'bad-*.tfrecord'), skip_corrupt=True, eval_batch_size=1)
    _, labels = collect(input_lib.input_fn(EVAL, params))
    assert sorted(labels) == [0, 0, 1, 1, 2]
    err = capfd.readouterr().err
    assert '(5 skipped so far)' in err
    assert 'not a JPEG, PNG, GIF or BMP image' in err and 'the shard is truncated' in err


def test_label_outside_num_classes_fails_the_batch_and_is_named(mixed_records):
    params = make_params(mixed_records, num_classes=5)
    with pytest.raises(tf.errors.InvalidArgumentError, match='input_fn: bad label'):
        collect(input_lib.input_fn(EVAL, params))
    assert re.match(r'input_fn: record 5 of \S+mixed-00000-of-00002.tfrecord: label 5 outside 0..4 '
                    r'\(num_classes 5\)', diagnose.first_problem(params, 'eval_files'))


def test_synthetic_mode_feeds_random_tensors_of_the_real_shapes():
    params = make_params('no/such/*.tfrecord', synthetic=True, synthetic_examples=12, num_classes=3)
    batches = list(input_lib.input_fn(TRAIN, params, epochs=2))
    assert len(batches) == 6
    features, labels = batches[0]
    assert features['image'].shape == (4, SIZE, SIZE, 3) and labels.dtype == tf.int32
    assert 0.0 <= float(tf.reduce_min(features['image'])) and float(tf.reduce_max(features['image'])) <= 255.0
    assert set(np.concatenate([labels.numpy() for _, labels in batches])) <= {0, 1, 2}


def test_a_pattern_without_files_is_a_config_error_naming_it(mixed_records):
    params = make_params(mixed_records + ',missing/dir/*.tfrecord')
    with pytest.raises(ConfigError, match=r"train_files: no files match 'missing/dir/\*.tfrecord'"):
        input_lib.input_fn(TRAIN, params)


def test_a_shard_set_with_a_missing_shard_is_refused_naming_it(tmp_path):
    for index in (0, 2):
        (tmp_path / ('train-%05d-of-00003.tfrecord' % index)).write_bytes(b'')
    params = make_params(str(tmp_path / 'train-*.tfrecord'))
    with pytest.raises(ConfigError, match=r'train_files: the shard set is incomplete, \S+'
                                          r'train-00001-of-00003.tfrecord is missing'):
        input_lib.input_fn(TRAIN, params)


def test_input_context_shards_files_and_splits_the_batch(mixed_records):
    parts = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline,
                                             num_replicas_in_sync=2)
        params = make_params(mixed_records, eval_batch_size=4)
        images, labels = collect(input_lib.input_fn(EVAL, params, input_context=context))
        assert len(labels) == 6
        first_batch = next(iter(input_lib.input_fn(EVAL, params, input_context=context)))
        assert first_batch[1].shape == (2,)
        parts.append(set(labels))
    assert parts[0].isdisjoint(parts[1]) and parts[0] | parts[1] == set(range(12))


def test_input_fn_builds_inside_an_estimator_graph_with_prefetch_to_device(mixed_records):
    params = make_params(mixed_records, prefetch_to_device='/cpu:0')
    with tf.Graph().as_default():
        iterator = tf.compat.v1.data.make_initializable_iterator(input_lib.input_fn(TRAIN, params, epochs=1))
        features, labels = iterator.get_next()
        with tf.compat.v1.Session() as session:
            session.run(iterator.initializer)
            images, batch_labels = session.run([features['image'], labels])
    assert images.shape == (4, SIZE, SIZE, 3) and batch_labels.shape == (4,)


def test_benchmark_input_prints_the_images_per_second_line(mixed_records, capsys):
    config = make_params(mixed_records, benchmark_batches=3)
    assert input_benchmark.benchmark_input(None, config, run.project_recipe('cnn')) == 0
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert last_line.startswith('input_fn: ') and last_line.endswith(' images/s (3 batches of 4)')


def test_time_batches_counts_the_cpu_time_of_the_pipeline_threads():
    def busy(value):
        square = tf.fill([800, 800], value)
        return tf.reduce_sum(tf.linalg.matmul(square, square))
    dataset = tf.data.Dataset.range(40).map(lambda value: busy(tf.cast(value, tf.float32)),
                                            num_parallel_calls=2).batch(2)
    seconds, read, cpu_seconds = input_benchmark.time_batches(dataset, warm_up=2, timed=5)
    assert read == 5 and seconds > 0
    _, _, idle_cpu = input_benchmark.time_batches(tf.data.Dataset.range(20).batch(2), 2, 5)
    assert cpu_seconds > 0.02 and cpu_seconds > 5 * idle_cpu


@pytest.mark.parametrize('key, value, message', [
    ('channels', 2, 'channels: expected 1 or 3'),
    ('resize_method', 'cubic', 'resize_method: expected one of'),
    ('crop_area_range', [0.5, 0.1], 'crop_area_range: expected'),
    ('prefetch_to_device', 'gpu0', 'prefetch_to_device: expected auto, none'),
])
def test_bad_input_settings_are_config_errors(mixed_records, key, value, message):
    with pytest.raises(ConfigError, match=message):
        input_lib.input_fn(TRAIN, make_params(mixed_records, **{key: value}))
