"""Hostile images given to the exported serving signature and to --mode predict: an empty batch,
files that are not images, a small PNG whose header claims 20000x20000, JPEGs cut short or with a
forged size. Each is refused by name; the other images of the batch or command are still served."""
import io
import json
import re
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
import yaml
from PIL import Image

from library import image_files
from library.data import headers
from test_training import CLASSES, ROOT, encoded_colour_image, run_main, tiny_flags

MAX_PIXELS = image_files.MAX_PIXELS


def png_claiming(width, height):
    """Returns a complete, tiny PNG whose IHDR states `width` x `height` (its pixel data is 10 bytes)."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    header = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', zlib.compress(b'\0' * 10)) +
            chunk(b'IEND', b''))


def jpeg_claiming(jpeg, width, height):
    """Returns `jpeg` with the size in its baseline frame header (SOF0) replaced."""
    start = jpeg.index(b'\xff\xc0')
    return jpeg[:start + 5] + struct.pack('>HH', height, width) + jpeg[start + 9:]


def photo_jpeg(seed):
    """Returns a 400x300 noisy JPEG, large enough that 1% of it is many entropy-coded blocks."""
    pixels = np.random.default_rng(seed).integers(0, 255, size=(300, 400, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, 'JPEG')
    return buffer.getvalue()


@pytest.fixture(scope='module')
def good_images():
    """A JPEG and a PNG of each colour class, encoded."""
    return [encoded_colour_image(index, image_format, seed=60000 + index)
            for index in range(len(CLASSES)) for image_format in ('JPEG', 'PNG')]


@pytest.fixture(scope='module')
def signature(trained_run, tmp_path_factory):  # noqa: F811 (fixture argument)
    """The serving_default signature of the exported best snapshot."""
    export_dir = str(tmp_path_factory.mktemp('export'))
    code, stdout = run_main(tiny_flags(trained_run['data'], trained_run['model_dir']) + [
        '--mode', 'export', '--checkpoint', 'best', '--export_dir', export_dir])
    assert code == 0, stdout
    path = re.search(r'exported SavedModel from \S+ to (\S+)', stdout).group(1)
    return tf.saved_model.load(path).signatures['serving_default']


def serve(signature, images):
    """Returns the signature's outputs for a list of encoded images, as NumPy arrays."""
    outputs = signature(image_bytes=tf.constant(images, tf.string))
    return {name: value.numpy() for name, value in outputs.items()}


def test_max_pixels_defaults_to_the_converters_limit():
    with open(ROOT + '/project.yaml') as stream:
        assert yaml.safe_load(stream)['default']['max_pixels'] == MAX_PIXELS == Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize('image_format', ['JPEG', 'PNG', 'GIF', 'BMP'])
def test_header_size_is_read_without_decoding(image_format):
    buffer = io.BytesIO()
    Image.new('RGB', (37, 21)).save(buffer, image_format)
    assert headers.image_size(tf.constant(buffer.getvalue())).numpy().tolist() == [21, 37]
    assert headers.image_problem(tf.constant(buffer.getvalue()), MAX_PIXELS).numpy() == b''


def test_empty_batch_returns_empty_outputs(signature):
    outputs = serve(signature, [])
    assert outputs['probabilities'].shape == (0, len(CLASSES))
    assert outputs['classes'].shape == outputs['class_names'].shape == outputs['status'].shape == (0,)


def test_each_bad_image_is_named_by_its_status_and_the_others_are_served(signature, good_images):
    cut_jpeg = photo_jpeg(1)
    bad = {
        1: (b'not an image at all', 'not a decodable image'),
        3: (png_claiming(20000, 20000), 'the header states 20000x20000 = 400000000 pixels, over the limit '
                                        'of max_pixels %d; refused without decoding' % MAX_PIXELS),
        4: (cut_jpeg[:len(cut_jpeg) * 99 // 100], 'truncated image'),
        6: (jpeg_claiming(good_images[0], 65500, 65500), 'the header states 65500x65500'),
        7: (b'', 'empty image bytes'),
        8: (b'\xff\xd8\xff\xe0 only the start of a JPEG \xff\xd9', 'corrupt JPEG header'),
    }
    batch = list(good_images)
    for index in sorted(bad):
        batch.insert(index, bad[index][0])
    outputs = serve(signature, batch)
    alone = serve(signature, good_images)
    statuses = [status.decode() for status in outputs['status']]
    good_rows = [index for index in range(len(batch)) if index not in bad]
    for index, (_, expected) in bad.items():
        assert expected in statuses[index], (index, statuses[index])
        assert not outputs['probabilities'][index].any()
        assert outputs['class_names'][index] == b''
    assert [statuses[index] for index in good_rows] == [''] * len(good_images)
    np.testing.assert_allclose(outputs['probabilities'][good_rows], alone['probabilities'], atol=1e-6)
    np.testing.assert_array_equal(outputs['classes'][good_rows], alone['classes'])
    assert [name.decode() for name in outputs['class_names'][good_rows]] == [
        CLASSES[index] for index in alone['classes']]


def predict(trained_run, paths, **overrides):  # noqa: F811 (fixture argument)
    """Runs --mode predict on `paths` with config `overrides`; returns (exit code, {file: JSON line})."""
    argv = tiny_flags(trained_run['data'], trained_run['model_dir'], **overrides) + [
        '--mode', 'predict', '--checkpoint', 'best', '--images'] + paths
    code, stdout = run_main(argv)
    return code, {line['file']: line for line in map(json.loads, stdout.splitlines())}


def test_predict_reports_forged_truncated_and_huge_images_and_classifies_the_rest(
        trained_run, good_images, tmp_path, capsys):  # noqa: F811
    good = []
    for index, data in enumerate(good_images):
        good.append(tmp_path / ('good%d' % index))
        good[-1].write_bytes(data)
    jpeg = photo_jpeg(2)
    bad = {
        'huge.png': (png_claiming(20000, 20000), 'the header states 20000x20000'),
        'forged.jpg': (jpeg_claiming(good_images[0], 65500, 65500), 'the header states 65500x65500'),
        'cut.jpg': (jpeg[:len(jpeg) * 99 // 100], 'truncated image'),
    }
    for name, (data, _) in bad.items():
        (tmp_path / name).write_bytes(data)
    paths = [str(path) for path in good[:3]] + [str(tmp_path / name) for name in bad] + [
        str(path) for path in good[3:]]
    code, lines = predict(trained_run, paths)
    errors = capsys.readouterr().err.splitlines()
    assert code == 1
    assert sorted(lines) == sorted(str(path) for path in good)
    for name, (_, expected) in bad.items():
        assert any(line.startswith('predict: error: %s: ' % (tmp_path / name)) and expected in line
                   for line in errors), (name, errors)


def test_predict_applies_max_pixels_from_the_config(trained_run, good_images, tmp_path, capsys):  # noqa: F811
    path = tmp_path / 'small.jpg'
    path.write_bytes(good_images[0])
    code, lines = predict(trained_run, [str(path)], max_pixels=1000)
    assert code == 1 and not lines
    assert 'the header states 40x30 = 1200 pixels, over the limit of max_pixels 1000' in capsys.readouterr().err

