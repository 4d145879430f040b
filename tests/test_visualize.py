"""visualize_layers: the first conv's filters and chosen layers' outputs as TensorBoard images."""
import contextlib
import glob
import io
import os

import numpy as np
import pytest
import tensorflow as tf

import run
from library import config as config_lib
from library import visualize
from project.models import cnn, resnet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_train_flags(data, model_dir, **overrides):
    """run.py flags training a tiny cnn for 2 steps with summaries at every step."""
    flags = {'config_file': os.path.join(ROOT, 'project.yaml'), 'mode': 'train', 'model': 'cnn',
             'model_dir': model_dir, 'train_files': data['train_files'], 'eval_files': data['eval_files'],
             'image_size': 24, 'cnn_filters': '[4, 8]', 'train_batch_size': 6, 'max_train_steps': 2,
             'save_summary_steps': 1, 'random_seed': 0, 'log_step_count_steps': 100,
             'visualize_layers': '[conv1, features/pool]'}
    flags.update(overrides)
    return config_lib.to_flags(flags)


def image_summaries(model_dir):
    """Returns {tag: decoded image} of the image summaries in model_dir's event files."""
    images = {}
    for path in glob.glob(os.path.join(model_dir, 'events.out.tfevents.*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.HasField('image'):
                    images[value.tag] = tf.io.decode_png(value.image.encoded_image_string).numpy()
    return images


@pytest.fixture(scope='module')
def trained_with_images(shapes_tfrecords, tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp('visualize') / 'model')
    with contextlib.redirect_stdout(io.StringIO()):
        code = run.main(tiny_train_flags(shapes_tfrecords, model_dir))
    assert code == 0
    return image_summaries(model_dir)


def test_first_conv_filters_are_an_image_grid(trained_with_images):
    grid = trained_with_images['layers/first_conv_filters/image']
    tile = visualize.FILTER_TILE_PIXELS // 3 * 3 + 1  # 3x3 kernels upscaled 8x, plus a separating line
    assert grid.shape == (2 * tile, 2 * tile, 3)  # 4 RGB filters in a 2x2 grid
    assert grid.std() > 0


def test_chosen_layer_outputs_are_images(trained_with_images):
    conv1 = [tag for tag in trained_with_images if tag.startswith('layers/conv1/')]
    pool = [tag for tag in trained_with_images if tag.startswith('layers/features/pool/')]
    assert len(conv1) == visualize.IMAGES and len(pool) == visualize.IMAGES
    assert trained_with_images[conv1[0]].shape == (2 * 25, 2 * 25, 1)  # 4 channels of 24x24
    assert trained_with_images[pool[0]].shape == (2 * 13, 2 * 13, 1)  # first call of the shared pool: 12x12


def test_images_are_written_at_a_tenth_of_the_summary_rate():
    hook_params = {'save_summary_steps': 7, 'model_dir': 'unused'}
    with tf.Graph().as_default():
        inspection = visualize.Inspection()
        inspection.first_kernel = tf.zeros([3, 3, 3, 4])
        [hook] = visualize.summary_hooks(inspection, hook_params)
    assert hook._timer._every_steps == 70


def network_params(**overrides):
    _, config = config_lib.parse(['--config_file', os.path.join(ROOT, 'project.yaml')])
    return dict(config, num_classes=3, class_names=['a', 'b', 'c'], cnn_filters=[4, 8], **overrides)


def test_unknown_layer_name_is_a_config_error_listing_the_layers():
    network = cnn.build_network(network_params())
    with pytest.raises(config_lib.ConfigError) as error:
        visualize.chosen_layers(network, ['block2'])
    message = str(error.value)
    assert "no layer 'block2'" in message
    for path in ('features/conv1', 'features/bn2', 'features/pool', 'logits'):
        assert path in message


def test_a_name_shared_by_several_layers_needs_its_path():
    network = resnet.build_network(network_params(resnet_depth=8, image_size=32))
    with pytest.raises(config_lib.ConfigError, match='ambiguous'):
        visualize.chosen_layers(network, ['conv1'])
    chosen = visualize.chosen_layers(network, ['stage1_block1/conv1', 'features/stem_conv'])
    assert chosen['features/stem_conv'].name == 'stem_conv'


def test_unknown_layer_fails_run_py_before_training(shapes_tfrecords, tmp_path, capsys):
    model_dir = str(tmp_path / 'model')
    code = run.main(tiny_train_flags(shapes_tfrecords, model_dir, visualize_layers='[block2]'))
    assert code == 2
    assert 'features/conv1' in capsys.readouterr().err
    assert not tf.train.latest_checkpoint(model_dir)


def test_grids_keep_every_tile_in_its_place():
    tiles = np.arange(5 * 2 * 2, dtype=np.float32).reshape(1, 5, 2, 2, 1)
    grid = visualize.tile_grid(tf.constant(tiles)).numpy()[0, :, :, 0]
    assert grid.shape == (2 * 3, 3 * 3)
    np.testing.assert_array_equal(grid[0:2, 3:5], tiles[0, 1, :, :, 0])
    np.testing.assert_array_equal(grid[3:5, 0:2], tiles[0, 3, :, :, 0])
    assert (grid[3:5, 6:8] == 1.0).all()  # the empty sixth place is white
