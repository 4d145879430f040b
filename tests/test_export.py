"""--mode export and --mode predict on real encoded images, with the cnn trained in test_training."""
import contextlib
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import run
from test_training import CLASSES, encoded_colour_image, run_main, tiny_flags


@pytest.fixture(scope='module')
def image_files(tmp_path_factory):
    """Writes a JPEG and a PNG of each class; returns [(path, class name)]."""
    folder = tmp_path_factory.mktemp('images')
    files = []
    for index, colour in enumerate(CLASSES):
        for image_format, suffix in (('JPEG', 'jpg'), ('PNG', 'png')):
            path = folder / ('%s.%s' % (colour, suffix))
            path.write_bytes(encoded_colour_image(index, image_format, seed=50000 + index))
            files.append((str(path), colour))
    return files


@pytest.fixture(scope='module')
def exported(trained_run, tmp_path_factory):  # noqa: F811 (fixture argument)
    """Exports the best snapshot (and its hub feature extractor); returns paths and stdout."""
    export_dir = str(tmp_path_factory.mktemp('export'))
    code, stdout = run_main(tiny_flags(trained_run['data'], trained_run['model_dir']) + [
        '--mode', 'export', '--checkpoint', 'best', '--export_dir', export_dir,
        '--export_hub_module', 'true'])
    assert code == 0, stdout
    path = re.search(r'exported SavedModel from \S+ to (\S+)', stdout).group(1)
    hub_path = re.search(r'TF Hub feature-vector module to (\S+)', stdout).group(1)
    return {'path': path, 'hub_path': hub_path, 'stdout': stdout, 'export_dir': export_dir}


def test_export_is_a_new_version_folder_from_the_best_snapshot(exported, trained_run):  # noqa: F811
    assert os.path.dirname(exported['path']) == exported['export_dir']
    assert re.fullmatch(r'\d+', os.path.basename(exported['path']))
    assert os.path.join(trained_run['model_dir'], 'best', 'step-') in exported['stdout']
    assert sorted(os.listdir(exported['export_dir'])) == sorted(
        [os.path.basename(exported['path']), 'hub'])
    with open(os.path.join(exported['path'], 'assets.extra', 'class_names.txt')) as stream:
        assert stream.read().split() == CLASSES


def test_serving_signature_classifies_real_jpeg_and_png(exported, image_files):
    loaded = tf.saved_model.load(exported['path'])
    signature = loaded.signatures['serving_default']
    assert list(signature.structured_input_signature[1]) == ['image_bytes']
    encoded = [open(path, 'rb').read() for path, _ in image_files]
    outputs = signature(image_bytes=tf.constant(encoded))
    probabilities = outputs['probabilities'].numpy()
    assert probabilities.shape == (len(image_files), len(CLASSES))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    classes = outputs['classes'].numpy()
    np.testing.assert_array_equal(classes, probabilities.argmax(axis=1))
    names = [name.decode() for name in outputs['class_names'].numpy()]
    assert names == [CLASSES[index] for index in classes]
    correct = sum(name == colour for name, (_, colour) in zip(names, image_files))
    assert correct >= 5  # of 6; chance is 2


def test_saved_model_cli_runs_on_jpeg_files(exported, image_files, tmp_path):
    inputs = str(tmp_path / 'images.npy')
    np.save(inputs, np.array([open(path, 'rb').read() for path, _ in image_files[:2]],
                             dtype=object))
    result = subprocess.run(
        [sys.executable, '-m', 'tensorflow.python.tools.saved_model_cli', 'run', '--dir',
         exported['path'], '--tag_set', 'serve', '--signature_def', 'serving_default',
         '--inputs', 'image_bytes=' + inputs],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Result for output key probabilities" in result.stdout
    assert "Result for output key classes" in result.stdout


def test_predict_prints_one_json_line_per_image_and_matches_the_export(
        exported, image_files, trained_run, tmp_path, capsys):  # noqa: F811
    missing = str(tmp_path / 'missing.jpg')
    corrupt = tmp_path / 'corrupt.jpg'
    corrupt.write_bytes(b'\xff\xd8 not really a jpeg')
    paths = [path for path, _ in image_files]
    flags = tiny_flags(trained_run['data'], trained_run['model_dir'])
    code = run.main(flags + ['--mode', 'predict', '--checkpoint', 'best', '--images'] +
                    paths[:3] + [missing, str(corrupt)] + paths[3:])
    captured = capsys.readouterr()
    assert code == 1
    lines = [json.loads(line) for line in captured.out.splitlines() if line.startswith('{')]
    assert [line['file'] for line in lines] == paths
    signature = tf.saved_model.load(exported['path']).signatures['serving_default']
    served = signature(image_bytes=tf.constant([open(path, 'rb').read() for path in paths]))
    for line, served_class, probabilities in zip(
            lines, served['classes'].numpy(), served['probabilities'].numpy()):
        assert line['class'] == served_class
        assert line['class_name'] == CLASSES[served_class]
        assert line['probability'] == pytest.approx(probabilities[served_class], abs=1e-4)
    errors = captured.err.splitlines()
    assert any(missing in line and 'cannot read' in line for line in errors)
    assert any(str(corrupt) in line and 'not a decodable' in line for line in errors)


def test_exported_hub_module_gives_feature_vectors(exported):
    module = tf.saved_model.load(exported['hub_path'])
    features = module(tf.zeros([2, 32, 32, 3]), training=False)
    assert features.shape == (2, 16)  # the last of cnn_filters [8, 16]


def test_export_without_checkpoint_is_a_config_error(trained_run, tmp_path, capsys):  # noqa: F811
    flags = tiny_flags(trained_run['data'], str(tmp_path / 'empty'))
    with contextlib.redirect_stdout(io.StringIO()):
        code = run.main(flags + ['--mode', 'export', '--export_dir', str(tmp_path / 'x')])
    assert code == 2
    assert 'no checkpoint in model_dir' in capsys.readouterr().err
