"""The classifier EstimatorSpec shared by the cnn, resnet and hub models.

A network is a `ClassifierNetwork`: a feature extractor (a Keras layer mapping
images in [-1, 1] to a [batch, features] vector) followed by dropout and the
logits layer. This module adds the loss, the train op, metrics, summaries and
the predictions.
"""
import tensorflow as tf

from library import distribution, optimization, visualize

IMAGE_SUMMARIES = 3
HISTOGRAM_STEPS_FACTOR = 10


class ClassifierNetwork(tf.keras.Model):
    """`features` (a Keras layer: images in [-1, 1] -> [batch, features]), dropout, logits."""

    def __init__(self, features, params, name):
        super().__init__(name=name)
        self.features = features
        self.dropout = tf.keras.layers.Dropout(params['dropout_rate'], name='dropout')
        self.logits = tf.keras.layers.Dense(params['num_classes'], name='logits')

    def call(self, images, training=False):
        features = self.features(images, training=training)
        return self.logits(self.dropout(features, training=training))


def class_names(params):
    """Returns the class names, '0'..'N-1' when the params have none."""
    names = params.get('class_names') or [str(index) for index in range(params['num_classes'])]
    return [str(name) for name in names]


def checked_labels(labels, num_classes):
    """Returns int32 `labels`, asserting at run time that they lie in [0, num_classes)."""
    labels = tf.cast(labels, tf.int32)
    message = ('labels must be in [0, %d) (num_classes = %d; -1 marks unlabelled images, '
               'which cannot train or evaluate a classifier)' % (num_classes, num_classes))
    checks = [tf.debugging.assert_non_negative(labels, message=message),
              tf.debugging.assert_less(labels, num_classes, message=message)]
    with tf.control_dependencies(checks):
        return tf.identity(labels)


def l2_loss(variables, factor):
    """Returns `factor` times the L2 norm of the weight matrices and kernels in `variables`."""
    weights = [variable for variable in variables if variable.shape.ndims > 1]
    if factor <= 0 or not weights:
        return tf.constant(0.0)
    return factor * tf.add_n([tf.nn.l2_loss(tf.cast(weight, tf.float32)) for weight in weights])


def weight_histogram_hooks(variables, params):
    """Returns [SummarySaverHook] writing weight histograms every 10 summary steps.

    Only the chief writes them (other workers of a cluster skip summaries)."""
    collection = 'weight_histograms'
    for variable in variables:
        tf.compat.v1.summary.histogram(variable.name.replace(':', '_'), variable,
                                       collections=[collection])
    summary_op = tf.compat.v1.summary.merge_all(collection)
    if summary_op is None or not distribution.is_chief():
        return []
    return [tf.estimator.SummarySaverHook(
        save_steps=max(params['save_summary_steps'], 1) * HISTOGRAM_STEPS_FACTOR,
        output_dir=params['model_dir'], summary_op=summary_op)]


def predictions_of(logits, params):
    """Returns the prediction dict: 'classes' (int64) and 'probabilities'."""
    return {'classes': tf.argmax(logits, axis=1),
            'probabilities': tf.nn.softmax(logits, name='probabilities')}


def export_outputs_of(predictions, params):
    """Returns the serving_default PredictOutput, adding the predicted 'class_names'."""
    names = tf.gather(tf.constant(class_names(params)), predictions['classes'])
    outputs = dict(predictions, class_names=names)
    return {tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY:
            tf.estimator.export.PredictOutput(outputs)}


def eval_metrics(labels, logits, predictions, params):
    """Returns accuracy, top_k_accuracy and mean_per_class_accuracy metric ops."""
    num_classes = params['num_classes']
    top_k = max(1, min(params['top_k'], num_classes))
    return {
        'accuracy': tf.compat.v1.metrics.accuracy(labels, predictions['classes']),
        'top_k_accuracy': tf.compat.v1.metrics.mean(
            tf.cast(tf.nn.in_top_k(predictions=logits, targets=labels, k=top_k), tf.float32)),
        'mean_per_class_accuracy': tf.compat.v1.metrics.mean_per_class_accuracy(
            labels, predictions['classes'], num_classes),
    }


def cross_entropy_loss(labels, logits, params):
    """The default classification loss: softmax cross-entropy with xentropy_label_smoothing."""
    return tf.compat.v1.losses.softmax_cross_entropy(
        tf.one_hot(labels, params['num_classes']), logits, label_smoothing=params['xentropy_label_smoothing'])


def estimator_spec(network, features, labels, mode, params, loss_fn=cross_entropy_loss):
    """Returns the EstimatorSpec of `network` (a ClassifierNetwork) for `mode`.

    `loss_fn(int32 labels, float32 logits, params)` returns the scalar data loss; the L2
    penalty of l2_regularization is added to it.
    """
    images = features['image']
    training = mode == tf.estimator.ModeKeys.TRAIN
    with visualize.inspecting(network, params) as inspection:
        logits = tf.cast(network(images, training=training), tf.float32)
    predictions = predictions_of(logits, params)
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(
            mode, predictions=predictions,
            export_outputs=export_outputs_of(predictions, params))

    labels = checked_labels(labels, params['num_classes'])
    data_loss = loss_fn(labels, logits, params)
    loss = data_loss + l2_loss(network.trainable_variables, params['l2_regularization'])
    if mode == tf.estimator.ModeKeys.EVAL:
        return tf.estimator.EstimatorSpec(
            mode, loss=loss, predictions=predictions,
            eval_metric_ops=eval_metrics(labels, logits, predictions, params))

    rate = optimization.learning_rate(params)
    optimizer = optimization.make_optimizer(params, rate)
    train_op = optimization.minimize(loss, network.trainable_variables, optimizer, params,
                                     update_ops=network.updates)
    tf.compat.v1.summary.scalar('learning_rate', rate)
    tf.compat.v1.summary.scalar('data_loss', data_loss)
    tf.compat.v1.summary.scalar('accuracy', tf.reduce_mean(tf.cast(
        tf.equal(predictions['classes'], tf.cast(labels, tf.int64)), tf.float32)))
    tf.compat.v1.summary.image('inputs', (images + 1.0) / 2.0, max_outputs=IMAGE_SUMMARIES)
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=train_op,
        training_hooks=weight_histogram_hooks(network.trainable_variables, params)
        + visualize.summary_hooks(inspection, params))
