"""No code path assumes a local disk: train -> best snapshot -> export on TensorFlow's ram:// file system."""
import contextlib
import io
import os
import uuid

import numpy as np
import pytest
import tensorflow as tf

import run
from library import best_snapshot, file_systems
from library.config import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def copy_tree(source, target):
    """Copies the local folder `source` to `target` (any tf.io.gfile file system)."""
    for folder, _, files in tf.io.gfile.walk(source):
        destination = target + folder[len(source):]
        tf.io.gfile.makedirs(destination)
        for name in files:
            tf.io.gfile.copy(os.path.join(folder, name), destination + '/' + name, overwrite=True)


def run_main(argv):
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = run.main(argv)
    return code, output.getvalue()


def test_train_snapshot_export_and_serve_on_ram_file_system(shapes_tfrecords):
    """TFRecords and an image folder read from ram://; model_dir, best_model_dir and export_dir on it."""
    remote = 'ram://remote-%s' % uuid.uuid4().hex[:8]
    copy_tree(shapes_tfrecords['dir'], remote + '/tfrecords')
    copy_tree(os.path.join(os.path.dirname(shapes_tfrecords['dir']), 'images', 'test'), remote + '/test_images')
    assert not os.path.exists('ram:')
    flags = ['--config_file', os.path.join(ROOT, 'project.yaml'), '--model', 'cnn',
             '--model_dir', remote + '/run', '--best_model_dir', remote + '/best',
             '--train_files', remote + '/tfrecords/train-*.tfrecord', '--eval_files', remote + '/test_images',
             '--image_size', '24', '--cnn_filters', '[4, 8]', '--train_batch_size', '20',
             '--eval_batch_size', '24', '--train_epochs', '1', '--best_metric', 'accuracy',
             '--best_mode', 'max', '--random_seed', '0', '--save_summary_steps', '2',
             '--visualize_layers', '[conv2]', '--profile_steps', '[1, 2]']
    code, stdout = run_main(flags)
    assert code == 0, stdout
    assert 'final evaluation: global_step 3 ' in stdout
    checkpoint, record = best_snapshot.best_checkpoint(remote + '/best')
    assert record['metric'] == 'accuracy' and tf.io.gfile.exists(checkpoint + '.index')
    assert tf.io.gfile.exists(remote + '/run/config.yaml')
    assert tf.io.gfile.glob(remote + '/run/events.out.tfevents.*')
    assert tf.io.gfile.glob(remote + '/run/plugins/profile/*/*.xplane.pb')  # profile_steps' trace

    code, stdout = run_main(flags + ['--mode', 'export', '--checkpoint', 'best',
                                     '--export_dir', remote + '/export'])
    assert code == 0, stdout
    [version] = tf.io.gfile.listdir(remote + '/export')
    exported = remote + '/export/' + version.rstrip('/')
    assert tf.io.gfile.exists(exported + '/saved_model.pb')
    assert tf.io.gfile.exists(exported + '/assets.extra/class_names.txt')

    serve = tf.saved_model.load(exported).signatures['serving_default']
    image = tf.io.gfile.glob(remote + '/test_images/square/*.jpg')[0]
    outputs = serve(image_bytes=tf.constant([tf.io.gfile.GFile(image, 'rb').read()]))
    assert outputs['probabilities'].shape == (1, 3)
    np.testing.assert_allclose(outputs['probabilities'].numpy().sum(), 1.0, rtol=1e-5)

    code, stdout = run_main(flags + ['--mode', 'export', '--checkpoint', 'best', '--export_hub_module',
                                     'true', '--export_dir', remote + '/export_with_hub'])
    assert code == 0, stdout
    [hub_version] = tf.io.gfile.listdir(remote + '/export_with_hub/hub')
    module = tf.saved_model.load(remote + '/export_with_hub/hub/' + hub_version.rstrip('/'))
    assert module(tf.zeros([2, 24, 24, 3])).shape == (2, 8)  # cnn_filters [4, 8]: 8 features
    assert not [name for name in tf.io.gfile.listdir(remote + '/export_with_hub/hub') if 'incomplete' in name]


def test_file_systems_tensorflow_has_need_no_plugin():
    file_systems.ensure_file_systems({'model_dir': 'ram://run', 'train_files': 'gs://bucket/train-*.tfrecord',
                                      'eval_files': 'data/test-*.tfrecord'})


def test_unknown_file_system_is_a_config_error_naming_the_key(monkeypatch):
    monkeypatch.setattr(file_systems, 'PLUGIN_MODULE', 'no_such_plugin_module')
    with pytest.raises(ConfigError, match=r'best_model_dir: the s3:// file system needs the tensorflow-io plugin'):
        file_systems.ensure_file_systems({'model_dir': 'runs/x', 'best_model_dir': 's3://bucket/best'})
