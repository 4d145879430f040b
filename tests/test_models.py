"""Classifier models: registry, EstimatorSpecs, training, NaN guard, labels, batch norm."""
import os

import numpy as np
import pytest
import tensorflow as tf

from library import config as config_lib
from project import model_fn, models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 32
NUM_CLASSES = 3
TRAIN = tf.estimator.ModeKeys.TRAIN
EVAL = tf.estimator.ModeKeys.EVAL
PREDICT = tf.estimator.ModeKeys.PREDICT


def make_params(model_dir='unused', **overrides):
    """Returns the default config plus what the training code adds, with `overrides`."""
    _, config = config_lib.parse(['--config_file', os.path.join(ROOT, 'project.yaml')])
    params = dict(config, model_dir=str(model_dir), image_size=SIZE, num_classes=NUM_CLASSES,
                  class_names=['square', 'bar', 'column'], save_summary_steps=10,
                  learning_rate=3e-3, dropout_rate=0.0, cnn_filters=[8, 16],
                  batch_norm_momentum=0.9)
    params.update(overrides)
    return params


def shape_images(count, seed):
    """Returns (images in [-1, 1], labels): a square, a horizontal bar or a vertical bar."""
    rng = np.random.RandomState(seed)
    images = rng.uniform(-1.0, -0.6, size=(count, SIZE, SIZE, 3)).astype(np.float32)
    labels = np.arange(count) % NUM_CLASSES
    for image, label in zip(images, labels):
        top, left = rng.randint(2, SIZE - 14, size=2)
        color = rng.uniform(0.3, 1.0, size=3)
        if label == 0:
            image[top:top + 10, left:left + 10] = color
        elif label == 1:
            image[top:top + 3, 2:SIZE - 2] = color
        else:
            image[2:SIZE - 2, left:left + 3] = color
    return images, labels.astype(np.int32)


def shapes_input_fn(images, labels, batch_size=16, repeat=True):
    """Returns an Estimator input_fn over in-memory arrays in [-1, 1], handed over as pixel values like
    project.input_fn's."""
    def input_fn():
        dataset = tf.data.Dataset.from_tensor_slices(({'image': as_pixels(images)}, labels))
        if repeat:
            dataset = dataset.shuffle(len(labels), seed=0).repeat()
        return dataset.batch(batch_size, drop_remainder=repeat)
    return input_fn


def make_estimator(params):
    run_config = tf.estimator.RunConfig(tf_random_seed=0, save_summary_steps=10,
                                        log_step_count_steps=1000)
    return tf.estimator.Estimator(model_fn.model_fn, model_dir=params['model_dir'],
                                  params=params, config=run_config)


def as_pixels(images):
    """Maps images in [-1, 1] to the [0, 255] pixel values the model_fn takes."""
    return (images + 1.0) * 127.5


def build_spec(params, mode, batch=4):
    """Builds `mode`'s spec in a fresh graph; returns (graph, spec)."""
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.train.get_or_create_global_step()
        features = {'image': tf.random.uniform([batch, SIZE, SIZE, 3], 0.0, 255.0)}
        labels = None if mode == PREDICT else tf.constant([0, 1, 2, 0][:batch])
        return graph, model_fn.model_fn(features, labels, mode, params)


def test_unknown_model_names_the_known_ones():
    with pytest.raises(config_lib.ConfigError) as error:
        models.get_model('resnett')
    for name in ('cnn', 'resnet', 'hub'):
        assert name in str(error.value)


CLASSIFIERS = {
    'cnn': {},
    'resnet_cifar': dict(model='resnet', resnet_depth=8, resnet_width=0.25),
    'resnet_imagenet': dict(model='resnet', resnet_depth=18, resnet_width=0.125,
                            resnet_stem='imagenet'),
}


@pytest.mark.parametrize('name', sorted(CLASSIFIERS))
def test_classifier_specs_for_every_mode(name):
    params = make_params(**CLASSIFIERS[name])
    _, spec = build_spec(params, PREDICT)
    assert set(spec.predictions) == {'classes', 'probabilities'}
    assert spec.predictions['classes'].dtype == tf.int64
    assert spec.predictions['probabilities'].shape.as_list() == [4, NUM_CLASSES]
    outputs = spec.export_outputs['serving_default'].outputs
    assert set(outputs) == {'classes', 'probabilities', 'class_names'}
    assert outputs['class_names'].dtype == tf.string

    _, spec = build_spec(params, EVAL)
    assert {'accuracy', 'top_k_accuracy', 'mean_per_class_accuracy'} <= set(spec.eval_metric_ops)
    assert spec.loss.shape.ndims == 0

    graph, spec = build_spec(params, TRAIN)
    assert spec.train_op is not None
    with graph.as_default():
        summaries = {op.name for op in tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.SUMMARIES)}
    assert any('learning_rate' in name for name in summaries)
    assert any('inputs' in name for name in summaries)


def test_resnet_50_uses_bottleneck_blocks():
    from project.models import resnet
    params = make_params(model='resnet', resnet_depth=50, resnet_width=0.0625, resnet_stem='imagenet')
    with tf.Graph().as_default():
        network = resnet.build_network(params)
        features = network.features(tf.zeros([1, 64, 64, 3]))
        convs = [variable for variable in network.variables if variable.shape.rank == 4]
    assert features.shape.as_list() == [1, 2048 // 16]
    assert len(convs) == 1 + 16 * 3 + 4


def test_resnet_depth_must_fit_the_stem():
    with pytest.raises(config_lib.ConfigError, match='6n\\+2'):
        build_spec(make_params(model='resnet', resnet_depth=18), PREDICT)
    with pytest.raises(config_lib.ConfigError, match='18, 34, 50'):
        build_spec(make_params(model='resnet', resnet_depth=20, resnet_stem='imagenet'), PREDICT)


@pytest.fixture(scope='module')
def trained_cnn(tmp_path_factory):
    """A cnn trained briefly on the shapes; returns (params, loss after 1 step, final metrics)."""
    params = make_params(tmp_path_factory.mktemp('cnn'))
    estimator = make_estimator(params)
    images, labels = shape_images(240, seed=1)
    eval_images, eval_labels = shape_images(96, seed=2)
    evaluate = shapes_input_fn(eval_images, eval_labels, batch_size=48, repeat=False)
    estimator.train(shapes_input_fn(images, labels), max_steps=1)
    first = estimator.evaluate(evaluate)
    estimator.train(shapes_input_fn(images, labels), max_steps=120)
    return params, first, estimator.evaluate(evaluate)


def test_short_training_reduces_loss_and_beats_chance(trained_cnn):
    _, first, final = trained_cnn
    assert final['global_step'] == 120
    assert final['loss'] < 0.7 * first['loss']
    assert final['accuracy'] > 0.8
    assert final['top_k_accuracy'] == pytest.approx(1.0)
    assert 0.0 <= final['mean_per_class_accuracy'] <= 1.0


def test_train_op_updates_batch_norm_statistics(trained_cnn):
    params = trained_cnn[0]
    reader = tf.train.load_checkpoint(params['model_dir'])
    moving_mean = reader.get_tensor('cnn/features/bn1/moving_mean')
    moving_variance = reader.get_tensor('cnn/features/bn1/moving_variance')
    assert np.abs(moving_mean).max() > 1e-3
    assert np.abs(moving_variance - 1.0).max() > 1e-3


def test_resnet_train_op_updates_batch_norm_statistics(tmp_path):
    params = make_params(tmp_path, model='resnet', resnet_depth=8, resnet_width=0.25)
    images, labels = shape_images(16, seed=3)
    make_estimator(params).train(shapes_input_fn(images, labels, batch_size=8), max_steps=2)
    reader = tf.train.load_checkpoint(str(tmp_path))
    names = [name for name in reader.get_variable_to_shape_map() if name.endswith('moving_mean')
             and 'Adam' not in name]
    assert len(names) == 7
    for name in names:
        assert np.abs(reader.get_tensor(name)).max() > 0, name


def test_nan_loss_stops_training_with_the_step(tmp_path):
    params = make_params(tmp_path)
    images = np.full((8, SIZE, SIZE, 3), np.nan, np.float32)
    labels = np.zeros(8, np.int32)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r'Model diverged with loss = NaN at step \d+\]'):
        make_estimator(params).train(shapes_input_fn(images, labels, batch_size=4), max_steps=5)



@pytest.mark.parametrize('bad_label', [-1, NUM_CLASSES])
def test_labels_outside_the_classes_fail_clearly(tmp_path, bad_label):
    params = make_params(tmp_path)
    images, labels = shape_images(4, seed=4)
    labels[2] = bad_label
    with pytest.raises(tf.errors.InvalidArgumentError, match=r'labels must be in \[0, 3\)'):
        make_estimator(params).train(shapes_input_fn(images, labels, batch_size=4), max_steps=1)


MODULE_SIZE = 16
MODULE_FEATURES = 8


def save_tiny_hub_module(path):
    """Saves a TF2 hub image module: fixed random conv + ReLU + mean pool on 16x16 [0, 1] images."""
    rng = np.random.RandomState(0)
    root = tf.train.Checkpoint()
    root.kernel = tf.Variable(rng.normal(0, 0.5, [3, 3, 3, MODULE_FEATURES]).astype(np.float32))
    root.scale = tf.Variable(np.ones(MODULE_FEATURES, np.float32))
    root.variables = [root.kernel, root.scale]
    root.trainable_variables = [root.kernel, root.scale]
    root.regularization_losses = []

    @tf.function(input_signature=[tf.TensorSpec([None, MODULE_SIZE, MODULE_SIZE, 3], tf.float32)])
    def features(images):
        net = tf.nn.relu(tf.nn.conv2d(images - 0.5, root.kernel, 1, 'SAME'))
        return tf.reduce_mean(net, axis=[1, 2]) * root.scale

    root.__call__ = features
    tf.saved_model.save(root, str(path))
    return {'kernel': root.kernel.numpy(), 'scale': root.scale.numpy()}


@pytest.fixture(scope='module')
def hub_module(tmp_path_factory):
    """(path, original variable values) of the tiny hub module."""
    path = tmp_path_factory.mktemp('hub') / 'module'
    return str(path), save_tiny_hub_module(path)


def test_hub_model_outputs_the_pretrained_module_features(hub_module):
    from project.models import hub
    path, _ = hub_module
    images, _ = shape_images(4, seed=5)
    expected = tf.saved_model.load(path)(tf.image.resize((images + 1.0) / 2.0,
                                                          [MODULE_SIZE, MODULE_SIZE])).numpy()
    graph = tf.Graph()
    with graph.as_default():
        network = hub.build_network(make_params(model='hub', hub_module=path))
        assert tuple(network.features.input_size) == (MODULE_SIZE, MODULE_SIZE)
        features = network.features(tf.constant(images), training=False)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            actual = session.run(features)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def module_values(model_dir, shapes):
    """Returns the checkpoint values of the hub module's variables, by shape."""
    reader = tf.train.load_checkpoint(model_dir)
    values = {}
    for name, shape in reader.get_variable_to_shape_map().items():
        if 'Adam' not in name and tuple(shape) in shapes:
            values[shapes[tuple(shape)]] = reader.get_tensor(name)
    return values


@pytest.mark.parametrize('fine_tuning', [False, True])
def test_hub_fine_tuning_decides_whether_module_weights_train(hub_module, tmp_path, fine_tuning):
    path, original = hub_module
    params = make_params(tmp_path, model='hub', hub_module=path, fine_tuning=fine_tuning,
                         learning_rate=1e-2)
    images, labels = shape_images(32, seed=6)
    make_estimator(params).train(shapes_input_fn(images, labels, batch_size=8), max_steps=5)
    trained = module_values(str(tmp_path), {(3, 3, 3, MODULE_FEATURES): 'kernel',
                                            (MODULE_FEATURES,): 'scale'})
    assert set(trained) == {'kernel', 'scale'}
    for name in ('kernel', 'scale'):
        unchanged = np.allclose(trained[name], original[name])
        assert unchanged != fine_tuning, name


def test_hub_model_needs_a_module():
    with pytest.raises(config_lib.ConfigError, match='hub_module'):
        build_spec(make_params(model='hub', hub_module=None), PREDICT)


def test_exported_feature_extractor_loads_as_a_hub_module(trained_cnn, tmp_path):
    import tensorflow_hub as hub

    from library import hub_export
    from project.models import cnn
    params = trained_cnn[0]
    export_dir = str(tmp_path / 'features')
    checkpoint = tf.train.latest_checkpoint(params['model_dir'])
    assert hub_export.export_feature_extractor(cnn.build_network, params, checkpoint, export_dir) == export_dir
    images, labels = shape_images(12, seed=7)
    features = hub.KerasLayer(export_dir)(tf.constant((images + 1.0) / 2.0)).numpy()
    reader = tf.train.load_checkpoint(checkpoint)
    logits = features @ reader.get_tensor('cnn/logits/kernel') + reader.get_tensor('cnn/logits/bias')
    predictions = make_estimator(params).predict(
        lambda: tf.data.Dataset.from_tensor_slices({'image': as_pixels(images)}).batch(4),
        checkpoint_path=checkpoint)
    probabilities = np.stack([prediction['probabilities'] for prediction in predictions])
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), probabilities, atol=1e-5)

    hub_params = make_params(tmp_path / 'hub_run', model='hub', hub_module=export_dir)
    estimator = make_estimator(hub_params)
    train_images, train_labels = shape_images(64, seed=8)
    evaluate = shapes_input_fn(images, labels, batch_size=12, repeat=False)
    estimator.train(shapes_input_fn(train_images, train_labels), max_steps=1)
    first = estimator.evaluate(evaluate)
    estimator.train(shapes_input_fn(train_images, train_labels), max_steps=40)
    assert estimator.evaluate(evaluate)['loss'] < first['loss']
    with pytest.raises(config_lib.ConfigError, match='already exists'):
        hub_export.export_feature_extractor(cnn.build_network, params, checkpoint, export_dir)
