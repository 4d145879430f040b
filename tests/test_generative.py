"""Generative models: training, WGAN-GP penalty and step counting, VAE KL, sample images."""
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from library import config as config_lib
from library.config import ConfigError
from library.generative import augment, gan, losses, sliced_wasserstein
from library.generative import images as generative_images
from project import model_fn as project_model_fn
from project.models import conv_nets, wgan_gp

IMAGE_SIZE = 16
BATCH = 8
CLASSES = 3
GRID = 4
STEPS = 5
ROWS = 2
# GAN generators start from N(0, 0.02) weights: their inference-mode grids are flat grey until
# batch norm's moving averages (momentum 0.9) have followed them for some tens of steps.
TRAIN_STEPS = 30
PROJECT_YAML = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            'project.yaml')


def make_params(model_dir, model, conditional=False, **overrides):
    """Returns model_fn params: the config sets' values for `model` on tiny 16-pixel images."""
    _, config = config_lib.parse([
        '--config_file', PROJECT_YAML, '--config_set', 'demo_autoencoder', '--model', model,
        '--model_dir', str(model_dir),
        '--image_size', str(IMAGE_SIZE), '--gan_filters', '8', '--latent_dim', '8',
        '--sample_grid_size', str(GRID), '--interpolation_steps', str(STEPS),
        '--interpolation_rows', str(ROWS), '--conditional', str(conditional).lower(),
        '--random_seed', '0'])
    params = dict(config, num_classes=CLASSES, class_names=['a', 'b', 'c'])
    params.update(overrides)
    return params


def blob_images(count, seed=0):
    """Returns `count` images, each a bright square on a dark background, and labels.

    The images are pixel values in [0, 255], as project.input_fn hands them to the model_fn.
    """
    rng = np.random.RandomState(seed)
    images = np.full((count, IMAGE_SIZE, IMAGE_SIZE, 3), 25.0, np.float32)
    for image in images:
        top, left = rng.randint(0, IMAGE_SIZE - 6, size=2)
        image[top:top + 6, left:left + 6] = rng.uniform(150.0, 255.0, size=3)
    return images, (np.arange(count) % CLASSES).astype(np.int32)


def dataset(repeat):
    images, labels = blob_images(4 * BATCH)
    data = tf.data.Dataset.from_tensor_slices(({'image': images}, labels))
    return (data.repeat() if repeat else data).batch(BATCH)


def read_png(path):
    return np.asarray(Image.open(path))


@pytest.mark.parametrize('model,conditional', [
    ('autoencoder', False), ('vae', False), ('dcgan', False), ('dcgan', True), ('wgan_gp', False)])
def test_model_trains_evaluates_and_writes_sample_grids(tmp_path, model, conditional):
    params = make_params(tmp_path / 'run', model, conditional)
    estimator = tf.estimator.Estimator(project_model_fn.model_fn, model_dir=params['model_dir'],
                                       params=params)
    estimator.train(lambda: dataset(repeat=True), max_steps=TRAIN_STEPS)
    metrics = estimator.evaluate(lambda: dataset(repeat=False), steps=2)
    assert metrics['global_step'] == TRAIN_STEPS
    for name, value in metrics.items():
        assert np.isfinite(value), (name, value)
    expected_metric = {'autoencoder': 'reconstruction_error', 'vae': 'kl',
                       'dcgan': 'discriminator_loss', 'wgan_gp': 'wasserstein_estimate'}[model]
    assert expected_metric in metrics
    if model in ('vae', 'dcgan', 'wgan_gp'):
        assert metrics['swd'] > 0 and metrics['swd_16px'] > 0 and metrics['swd_8px'] > 0

    samples = os.path.join(params['model_dir'], 'samples')
    grid = read_png(os.path.join(samples, 'samples-step-%08d.png' % TRAIN_STEPS))
    rows = CLASSES if conditional else GRID
    assert grid.shape == (rows * IMAGE_SIZE, GRID * IMAGE_SIZE, 3)
    assert grid.std() > 0
    interpolation = read_png(os.path.join(samples, 'interpolation-step-%08d.png' % TRAIN_STEPS))
    assert interpolation.shape == (ROWS * IMAGE_SIZE, STEPS * IMAGE_SIZE, 3)
    assert interpolation.std() > 0
    if model in ('autoencoder', 'vae'):
        reconstructions = read_png(os.path.join(samples, 'reconstructions-step-%08d.png' % TRAIN_STEPS))
        assert reconstructions.shape == (2 * IMAGE_SIZE, GRID * IMAGE_SIZE, 3)
    events = [name for name in os.listdir(samples) if name.startswith('events.out')]
    assert events


def trained_conditional_dcgan(tmp_path, **overrides):
    """Trains a conditional DCGAN with the auxiliary classifier, checks its eval metrics are finite."""
    params = make_params(tmp_path / 'run', 'dcgan', conditional=True, auxiliary_classifier_weight=1.0,
                         **overrides)
    estimator = tf.estimator.Estimator(project_model_fn.model_fn, model_dir=params['model_dir'],
                                       params=params)
    estimator.train(lambda: dataset(repeat=True), max_steps=TRAIN_STEPS)
    metrics = estimator.evaluate(lambda: dataset(repeat=False), steps=2)
    for name in ('real_class_loss', 'fake_class_loss', 'real_class_accuracy',
                 'fake_class_accuracy', 'discriminator_loss', 'generator_loss'):
        assert np.isfinite(metrics[name]), name
    return estimator


def test_auxiliary_classifier_trains_and_reports_class_metrics(tmp_path):
    estimator = trained_conditional_dcgan(tmp_path)
    output_kernel = estimator.get_variable_value('discriminator/output/kernel')
    assert output_kernel.shape[-1] == 1 + CLASSES
    # The label reaches the discriminator by projection, not as input maps.
    assert estimator.get_variable_value('discriminator/conv0/kernel').shape[2] == 3
    assert estimator.get_variable_value('discriminator/label_projection').shape[0] == CLASSES


def test_separate_classifier_has_its_own_variables_and_learns_from_real_images(tmp_path):
    estimator = trained_conditional_dcgan(tmp_path, separate_classifier=True,
                                          classifier_learning_rate=2e-3)
    # The discriminator outputs its score alone; the classifier network gives the class logits.
    assert estimator.get_variable_value('discriminator/output/kernel').shape[-1] == 1
    # It pools its last feature maps globally (16 of them here) instead of flattening them.
    assert estimator.get_variable_value('classifier/output/kernel').shape == (16, CLASSES)
    initial = tf.train.load_variable(os.path.join(estimator.model_dir, 'model.ckpt-0'),
                                     'classifier/output/kernel')
    assert np.abs(estimator.get_variable_value('classifier/output/kernel') - initial).max() > 0


def test_classifier_rejecting_fakes_has_a_generated_class(tmp_path):
    estimator = trained_conditional_dcgan(tmp_path, separate_classifier=True,
                                          classifier_rejects_fakes=True)
    assert estimator.get_variable_value('classifier/output/kernel').shape == (16, CLASSES + 1)


def test_label_projection_changes_the_score_but_not_the_class_logits():
    params = make_params('', 'dcgan', conditional=True)
    with tf.Graph().as_default():
        images = project_model_fn.unit_range(tf.constant(blob_images(BATCH)[0]))

        def outputs(labels):
            return conv_nets.conv_encoder(images, tf.constant(labels), params, False, 1 + CLASSES, 'batch',
                                         'discriminator', conv_nets.gan_initializer(), label_projection=True)
        first, second = outputs([0] * BATCH), outputs([1] * BATCH)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            first, second = session.run([first, second])
    assert np.abs(first[:, 0] - second[:, 0]).max() > 1e-4
    np.testing.assert_allclose(first[:, 1:], second[:, 1:], rtol=1e-6)


def test_class_loss_leaves_out_unlabelled_examples():
    logits = tf.constant([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [5.0, 0.0, 0.0]])
    loss, accuracy = gan.class_loss_and_accuracy(logits, tf.constant([0, 2, -1]))
    expected = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 2], logits=logits[:2])
    np.testing.assert_allclose(loss.numpy(), tf.reduce_mean(expected).numpy(), rtol=1e-6)
    assert accuracy.numpy() == 0.5
    none_labelled = gan.class_loss_and_accuracy(logits, tf.constant([-1, -1, -1]))
    assert [value.numpy() for value in none_labelled] == [0.0, 0.0]


def test_class_accuracy_ignores_the_generated_class_when_told_the_real_classes():
    # Three real classes and a fourth, "generated", that has the largest logit in both rows.
    logits = tf.constant([[2.0, 0.0, 0.0, 9.0], [0.0, 1.0, 3.0, 9.0]])
    labels = tf.constant([0, 1])
    assert gan.class_loss_and_accuracy(logits, labels)[1].numpy() == 0.0
    assert gan.class_loss_and_accuracy(logits, labels, classes=3)[1].numpy() == 0.5


def test_sample_grids_decode_the_same_latents_at_every_evaluation(tmp_path):
    params = make_params(tmp_path, 'vae')
    first = generative_images.grid_latents(params)
    assert first.shape == (GRID * GRID, 8)
    np.testing.assert_array_equal(first, generative_images.grid_latents(dict(params)))
    assert not np.array_equal(first, generative_images.grid_latents(dict(params, sample_seed=1)))


def test_interpolation_rows_go_linearly_between_two_latents(tmp_path):
    params = make_params(tmp_path, 'vae')
    latents = generative_images.interpolation_latents(params).reshape(ROWS, STEPS, 8)
    for row in latents:
        start, end = row[0], row[-1]
        expected = start + np.linspace(0, 1, STEPS)[:, None] * (end - start)
        np.testing.assert_allclose(row, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(latents[0, 0], latents[0, -1])


def test_conditional_grid_has_one_row_per_class_and_shared_columns(tmp_path):
    params = make_params(tmp_path, 'dcgan', conditional=True)
    labels = generative_images.grid_labels(params).reshape(CLASSES, GRID)
    assert (labels == np.arange(CLASSES)[:, None]).all()
    latents = generative_images.grid_latents(params).reshape(CLASSES, GRID, -1)
    np.testing.assert_array_equal(latents[0], latents[2])


def test_image_grid_is_row_major():
    tiles = np.stack([np.full((2, 3, 1), value, np.float32) for value in (-1.0, 0.0, 1.0, 0.5)])
    grid = generative_images.image_grid(tiles, rows=2)
    assert grid.shape == (4, 6, 1)
    assert grid[0, 0, 0] == 0 and grid[0, 3, 0] == 128
    assert grid[2, 0, 0] == 255 and grid[2, 3, 0] == 191


def gradient_penalty_value(critic, real, fake, epsilon=None):
    """Runs losses.gradient_penalty in a graph (it uses tf.gradients, as in the model_fn)."""
    with tf.Graph().as_default():
        penalty = losses.gradient_penalty(
            critic, tf.constant(real), tf.constant(fake),
            None if epsilon is None else tf.constant(epsilon))
        with tf.compat.v1.Session() as session:
            return float(session.run(penalty))


def test_gradient_penalty_of_linear_critic_is_squared_norm_excess():
    weights = np.random.RandomState(0).normal(size=(1, 4, 4, 2)).astype(np.float32)
    real = np.random.RandomState(1).normal(size=(3, 4, 4, 2)).astype(np.float32)
    fake = np.random.RandomState(2).normal(size=(3, 4, 4, 2)).astype(np.float32)
    penalty = gradient_penalty_value(
        lambda images: tf.reduce_sum(images * weights, axis=[1, 2, 3]), real, fake)
    assert penalty == pytest.approx((np.linalg.norm(weights) - 1.0) ** 2, rel=1e-5)


def test_gradient_penalty_of_quadratic_critic_matches_hand_computation():
    real = np.array([3.0, 0.0, 0.0, 0.5], np.float32).reshape(2, 2, 1, 1)
    fake = np.array([1.0, 4.0, 0.0, -0.5], np.float32).reshape(2, 2, 1, 1)
    epsilon = np.array([0.5, 0.25], np.float32).reshape(2, 1, 1, 1)
    penalty = gradient_penalty_value(
        lambda images: 0.5 * tf.reduce_sum(tf.square(images), axis=[1, 2, 3]),
        real, fake, epsilon)
    # The gradient of 0.5 |x|^2 is x itself; the interpolates are (2, 2) and (0, 0.25).
    expected = ((math.sqrt(8.0) - 1.0) ** 2 + (0.25 - 1.0) ** 2) / 2
    assert penalty == pytest.approx(expected, rel=1e-5)


def trained_variables_by_step(params, steps):
    """Builds the TRAIN graph, runs `steps` train ops; returns (graph facts, values per step)."""
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(0)
        images, labels = blob_images(BATCH)
        spec = project_model_fn.model_fn({'image': tf.constant(images)}, tf.constant(labels),
                                         tf.estimator.ModeKeys.TRAIN, params)
        trainable = tf.compat.v1.trainable_variables()
        critic = gan.scope_variables(wgan_gp.CRITIC_SCOPE)
        generator = gan.scope_variables('generator')
        facts = {'trainable': {v.name for v in trainable}, 'critic': {v.name for v in critic},
                 'generator': {v.name for v in generator}}
        values = []
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            for _ in range(steps):
                session.run(spec.train_op)
                values.append(session.run({'critic': critic[0], 'generator': generator[0],
                                           'step': tf.compat.v1.train.get_global_step()}))
    return facts, values


def test_wgan_critic_and_generator_variables_are_disjoint_and_cover_all(tmp_path):
    facts, _ = trained_variables_by_step(make_params(tmp_path, 'wgan_gp'), steps=0)
    assert facts['critic'] and facts['generator']
    assert not facts['critic'] & facts['generator']
    assert facts['critic'] | facts['generator'] == facts['trainable']


def test_wgan_updates_generator_once_per_n_critic_steps(tmp_path):
    params = make_params(tmp_path, 'wgan_gp', n_critic=3)
    _, values = trained_variables_by_step(params, steps=4)
    assert [value['step'] for value in values] == [1, 2, 3, 4]
    critic_changed = [not np.array_equal(a['critic'], b['critic'])
                      for a, b in zip(values, values[1:])]
    generator_changed = [not np.array_equal(a['generator'], b['generator'])
                         for a, b in zip(values, values[1:])]
    assert critic_changed == [True, True, True]
    assert generator_changed == [False, True, False]


def test_generator_learning_rate_sets_only_the_generator_optimizer_rate(tmp_path):
    params = make_params(tmp_path, 'wgan_gp', n_critic=1, generator_learning_rate=0.0)
    _, values = trained_variables_by_step(params, steps=2)
    first, last = values[0], values[-1]
    assert not np.array_equal(first['critic'], last['critic'])
    assert np.array_equal(first['generator'], last['generator']), 'a zero generator rate leaves it as it was'


def test_generator_updates_runs_that_many_generator_updates_per_step(tmp_path):
    params = make_params(tmp_path, 'dcgan', generator_updates=2, optimizer='adam', adam_beta1=0.5)
    with tf.Graph().as_default():
        images, labels = blob_images(BATCH)
        spec = project_model_fn.model_fn({'image': tf.constant(images)}, tf.constant(labels),
                                         tf.estimator.ModeKeys.TRAIN, params)
        # Adam multiplies its beta1_power by beta1 at every update it applies.
        powers = [v for v in tf.compat.v1.global_variables() if 'beta1_power' in v.name]
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            for _ in range(3):
                session.run(spec.train_op)
            values = sorted(session.run(powers), reverse=True)
    updates = [round(math.log(value, 0.5)) - 1 for value in values]
    assert updates == [3, 6]  # discriminator: one per step; generator: two per step


def test_differentiable_augmentation_moves_and_masks_images_and_passes_gradients():
    images = tf.constant(np.arange(2 * 16 * 16 * 3, dtype=np.float32).reshape(2, 16, 16, 3) / 1536.0 + 0.1)
    shifted = augment.translation(images).numpy()
    shift = 2  # round(16 * TRANSLATION_RATIO)
    for image, original in zip(shifted, images.numpy()):
        matches = [(dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)
                   if np.array_equal(image[max(0, -dy):16 - max(0, dy), max(0, -dx):16 - max(0, dx)],
                                     original[max(0, dy):16 + min(0, dy), max(0, dx):16 + min(0, dx)])]
        assert len(matches) == 1
        assert np.count_nonzero(image == 0) == 3 * (16 * 16 - (16 - abs(matches[0][0])) * (16 - abs(matches[0][1])))
    for image in augment.cutout(tf.tile(images, [8, 1, 1, 1])).numpy():
        rows, columns = np.nonzero(image[..., 0] == 0)
        height, width = rows.max() - rows.min() + 1, columns.max() - columns.min() + 1
        assert np.all(image[rows.min():rows.max() + 1, columns.min():columns.max() + 1] == 0)
        assert len(rows) == height * width and 4 <= min(height, width) and max(height, width) <= 8
        assert (height == 8 or rows.min() == 0 or rows.max() == 15) and (
            width == 8 or columns.min() == 0 or columns.max() == 15)
    with tf.GradientTape() as tape:
        tape.watch(images)
        augmented = augment.augment(images, ['color', 'translation', 'cutout'])
        total = tf.reduce_sum(augmented)
    gradient = tape.gradient(total, images)
    assert augmented.shape == images.shape and np.any(gradient.numpy() != 0)
    with pytest.raises(ConfigError, match="gan_augment: expected a list of color/translation/cutout, got \\['flip'\\]"):
        augment.augment(images, ['flip'])


def swd_of_batches(batches, size=16):
    """Returns the swd metrics' values after updating them with each (real, fake) pair of NumPy batches."""
    with tf.Graph().as_default():
        real = tf.compat.v1.placeholder(tf.float32, [None, size, size, 3])
        fake = tf.compat.v1.placeholder(tf.float32, [None, size, size, 3])
        metrics = sliced_wasserstein.metrics(real, fake)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.local_variables_initializer())
            for real_batch, fake_batch in batches:
                session.run(metrics['swd'][1], {real: real_batch, fake: fake_batch})
            return session.run({name: value for name, (value, _) in metrics.items()})


def square_images(count, seed):
    """Returns `count` 16-pixel images in [-1, 1]: a square of random colour, size and place on a random
    background."""
    rng = np.random.default_rng(seed)
    images = np.ones((count, 16, 16, 3), np.float32) * rng.uniform(-1, 1, (count, 1, 1, 3))
    for image in images:
        side = rng.integers(4, 9)
        top, left = rng.integers(0, 16 - side, size=2)
        image[top:top + side, left:left + side] = rng.uniform(-1, 1, 3)
    return images.astype(np.float32)


def test_swd_pyramid_levels_rebuild_the_image():
    assert sliced_wasserstein.level_sizes(32) == [32, 16, 8]
    assert sliced_wasserstein.level_sizes(64) == [64, 32, 16, 8]
    assert sliced_wasserstein.level_sizes(28) == [28, 14]
    assert sliced_wasserstein.level_sizes(8) == [8]
    images = tf.constant(square_images(2, 0))
    levels = sliced_wasserstein.laplacian_pyramid(images, 3)
    assert [level.shape[1] for level in levels] == [16, 8, 4]
    rebuilt = levels[-1]
    for band in reversed(levels[:-1]):
        rebuilt = band + tf.image.resize(rebuilt, band.shape[1:3])
    np.testing.assert_allclose(rebuilt.numpy(), images.numpy(), atol=1e-5)


def test_swd_patches_lie_on_a_regular_grid():
    image = np.arange(16 * 16 * 3, dtype=np.float32).reshape(1, 16, 16, 3)
    patches = sliced_wasserstein.grid_patches(tf.constant(image)).numpy()
    starts = [0, 1, 3, 4, 5, 6, 8, 9]  # 8 positions evenly spread over 0..16-7
    assert patches.shape == (64, 7 * 7 * 3)
    top, left = starts[2], starts[5]
    np.testing.assert_array_equal(patches[2 * 8 + 5], image[0, top:top + 7, left:left + 7].ravel())


def test_swd_sees_a_constant_shift_only_in_the_low_pass_level():
    images = square_images(12, 1)
    values = swd_of_batches([(images, images + 0.3)])
    assert values['swd_16px'] == pytest.approx(0.0, abs=1e-5)
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        low_pass = sliced_wasserstein.laplacian_pyramid(tf.constant(images), 2)[1]
        patches, directions = session.run([sliced_wasserstein.grid_patches(low_pass),
                                           sliced_wasserstein.random_directions(7 * 7 * 3)])
    shift = (0.3 / patches.reshape(-1, 3).std(axis=0))[np.arange(7 * 7 * 3) % 3]
    assert np.allclose(np.linalg.norm(directions, axis=0), 1.0)
    assert values['swd_8px'] == pytest.approx(np.mean(np.abs(shift @ directions)), rel=1e-3)
    assert values['swd'] == pytest.approx(values['swd_8px'] / 2, rel=1e-5)


def test_swd_streams_over_batches_and_ignores_order():
    images, others = square_images(12, 2), square_images(12, 3)
    whole = swd_of_batches([(images, others)])
    streamed = swd_of_batches([(images[:5], others[7:]), (images[5:], others[:7])])
    same = swd_of_batches([(images, images[::-1])])
    for name in ('swd', 'swd_16px', 'swd_8px'):
        assert streamed[name] == pytest.approx(whole[name], rel=1e-5) and whole[name] > 0.05
        assert same[name] == pytest.approx(0.0, abs=1e-6)


def test_swd_tells_blurred_images_from_sharp_ones():
    images, others = square_images(64, 4), square_images(64, 5)
    blurred = tf.nn.avg_pool2d(tf.pad(others, [[0, 0], [1, 1], [1, 1], [0, 0]], 'SYMMETRIC'), 3, 1,
                               'VALID').numpy()
    sharp = swd_of_batches([(images, others)])
    soft = swd_of_batches([(images, blurred)])
    assert soft['swd_16px'] > 3 * sharp['swd_16px']


def test_vae_kl_matches_closed_form():
    mean = tf.constant([[1.0, 0.0], [0.0, 0.0], [0.5, -2.0]])
    log_variance = tf.constant([[0.0, 0.0], [math.log(2.0), 0.0], [0.0, math.log(0.5)]])
    kl = losses.gaussian_kl(mean, log_variance).numpy()
    expected = [0.5,
                0.5 * (2.0 - 1.0 - math.log(2.0)),
                0.5 * 0.25 + 0.5 * (0.5 + 4.0 - 1.0 - math.log(0.5))]
    np.testing.assert_allclose(kl, expected, rtol=1e-6)


@pytest.mark.slow
def test_run_py_trains_samples_and_exports_a_conditional_generator(tmp_path, shapes_tfrecords):
    import run
    model_dir = str(tmp_path / 'run')
    common = ['--config_file', PROJECT_YAML, '--config_set', 'demo_dcgan',
              '--model_dir', model_dir, '--conditional', 'true',
              '--train_files', shapes_tfrecords['train_files'],
              '--eval_files', shapes_tfrecords['eval_files'],
              '--image_size', str(IMAGE_SIZE), '--gan_filters', '8', '--latent_dim', '8',
              '--train_batch_size', str(BATCH), '--max_train_steps', '2',
              '--sample_grid_size', str(GRID)]
    assert run.main(common + ['--mode', 'train']) == 0
    assert run.main(common + ['--mode', 'sample', '--checkpoint', 'latest']) == 0
    grid = read_png(os.path.join(model_dir, 'samples', 'samples-step-00000002.png'))
    assert grid.shape == (CLASSES * IMAGE_SIZE, GRID * IMAGE_SIZE, 3)
    assert grid.std() > 0

    export_dir = str(tmp_path / 'export')
    assert run.main(common + ['--mode', 'export', '--export_dir', export_dir]) == 0
    (version,) = os.listdir(export_dir)
    generator = tf.saved_model.load(os.path.join(export_dir, version))
    outputs = generator.signatures['serving_default'](
        z=tf.random.normal([CLASSES, 8]), label=tf.range(CLASSES, dtype=tf.int32))
    assert outputs['images'].shape == (CLASSES, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert outputs['images_uint8'].dtype == tf.uint8
    assert np.all(np.abs(outputs['images'].numpy()) <= 1.0)


def test_sample_mode_rejects_a_classifier(tmp_path):
    import run
    assert run.main(['--config_file', PROJECT_YAML, '--model', 'cnn', '--mode', 'sample',
                     '--model_dir', str(tmp_path)]) == 2
