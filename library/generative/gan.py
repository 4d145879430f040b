"""The model_fn shared by the GANs (dcgan, wgan_gp) and their two-optimizer train op.

The model module hands over its networks (GanNetworks) and its losses
(library/generative/losses.py); everything else is here. Evaluation reports,
on held-out real images and as many generated ones, the losses' metric terms
and the multi-scale sliced Wasserstein distance swd with its levels swd_<N>px
(library/generative/sliced_wasserstein.py), and writes sample grids. The
GAN's own losses judge each checkpoint with its own discriminator, so they
are not comparable across a run; swd is.

How one Estimator step trains a GAN (and what the global step counts):
every step reads one batch of real images and makes ONE discriminator
(critic) update on it. On every `discriminator_steps`-th step (global step
+ 1 divisible by it) the same train_op then makes `generator_updates`
(hyperparameter, default 1) generator updates one after the other, after the
discriminator update, each with freshly drawn latent vectors. So the global
step counts discriminator updates (= batches read), there are exactly
`discriminator_steps` discriminator updates per generator step, and the
generator has made (global_step // discriminator_steps) * generator_updates
updates. Two generator updates per step are the usual remedy when the
discriminator wins too early (its loss near 0, the fake score near 0). Every critic
update sees a new real batch, as in Algorithm 1 of Gulrajani et al. (2017).

Auxiliary classifier (AC-GAN, Odena et al., 2017): when the model is
conditional and the hyperparameter `auxiliary_classifier_weight` is above 0,
the discriminator's last dense layer also outputs num_classes class logits
(same trunk), and the label enters the discriminator's score by projection
(Miyato & Koyama, 2018: a learned per-class embedding dotted with the final
features) instead of as input maps: with the label among its inputs the
classifier reads the class off those maps, which leaves the generator no
class signal (docs/generative_models.md). The discriminator loss adds weight * the softmax cross-entropy of
the class logits of REAL images against their labels, the generator loss adds
weight * the cross-entropy of the class logits of GENERATED images against the
labels they were generated for, so the generator is pushed to draw images the
classifier recognises as their class. Unlabelled examples (label -1) add nothing
to either class loss. The metrics `discriminator_loss` and `generator_loss` stay
the adversarial parts alone; evaluation adds real_class_loss, fake_class_loss,
real_class_accuracy and fake_class_accuracy (how often the classifier names the
class a sample was generated for; with a "generated" class, see below, which
real class it finds the sample most like).

With the hyperparameter `separate_classifier` the class logits come instead from
a classifier network of its own (GanNetworks.classifier, scope CLASSIFIER_SCOPE)
that sees the same augmented images but shares no variables with the
discriminator: it is trained on the real images' class loss only, with an
optimizer of its own at `classifier_learning_rate` (same schedule), so its
features are not bent by the real/fake task and it learns the shapes early
enough to guide the generator. With `classifier_rejects_fakes` it
has one more class, "generated", learnt from the generated images of each step
(Salimans et al., 2016, K+1 classes), so the generator cannot satisfy it with
images that only this classifier mistakes for a class.
"""
import dataclasses
from typing import Callable

import tensorflow as tf

from library import optimization
from library.generative import augment, sliced_wasserstein
from library.generative import images as generative_images
from library.generative import spec as generative_spec

GENERATOR_SCOPE = 'generator'
CLASSIFIER_SCOPE = 'classifier'
SUMMARY_IMAGES = 8


@dataclasses.dataclass(frozen=True)
class GanNetworks:
    """The networks of a GAN, which the model module builds (project/models/).

    generator: (latents, labels or None, params, training) -> images in [-1, 1],
        its variables under GENERATOR_SCOPE.
    discriminator: (images, labels or None, params, training, outputs, label_projection)
        -> [batch, outputs]: the score (a logit or unbounded critic score), then any
        class logits; its variables under `discriminator_scope`. With
        label_projection the label enters the score alone, by projection.
    classifier: (images, params, training, outputs) -> [batch, outputs] class logits
        of the separate classifier, its variables under CLASSIFIER_SCOPE.
    discriminator_scope: the variable scope of the discriminator.
    batch_normalized: the discriminator normalises over the batch (batch norm).
    """
    generator: Callable
    discriminator: Callable
    classifier: Callable
    discriminator_scope: str
    batch_normalized: bool


def scope_variables(scope):
    """Returns the trainable variables under variable scope `scope`."""
    return tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES, scope + '/')


def new_update_ops(build):
    """Calls `build()`; returns (its result, the UPDATE_OPS it added to the graph)."""
    graph = tf.compat.v1.get_default_graph()
    before = set(graph.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS))
    result = build()
    added = [op for op in graph.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
             if op not in before]
    return result, added


def class_loss_and_accuracy(class_logits, labels, classes=None):
    """Returns (mean softmax cross-entropy, accuracy) of `class_logits` over labelled examples.

    The accuracy picks the largest of the first `classes` logits (all when
    None), so a "generated" class after the real ones does not count. Examples
    labelled -1 (unlabelled) are left out of both means; with none labelled
    both are 0.
    """
    labels = tf.cast(labels, tf.int32)
    labelled = tf.cast(labels >= 0, tf.float32)
    count = tf.maximum(tf.reduce_sum(labelled), 1.0)
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.maximum(labels, 0), logits=class_logits)
    guesses = tf.argmax(class_logits[:, :classes], axis=1, output_type=tf.int32)
    correct = tf.cast(tf.equal(guesses, labels), tf.float32)
    return (tf.reduce_sum(cross_entropy * labelled) / count,
            tf.reduce_sum(correct * labelled) / count)


def gan_train_op(params, discriminator_loss, discriminator_update_ops, generator_loss_fn,
                 discriminator_scope, discriminator_steps, classifier_loss=None):
    """Returns the train op described in the module docstring.

    `discriminator_update_ops` (batch-norm statistics) run with the
    discriminator update; `classifier_loss` (or None), the separate
    classifier's, is minimised with it by the classifier's own optimizer.
    `generator_loss_fn()` builds the generator loss (generator forward pass and
    discriminator on its output) when called, once per generator update, so on
    steps without a generator update none of it runs. Each network has its own
    optimizer over the variables of its own scope.
    """
    global_step = tf.compat.v1.train.get_or_create_global_step()
    rate = optimization.learning_rate(params)
    discriminator_update = optimization.minimize(
        discriminator_loss, scope_variables(discriminator_scope),
        optimization.make_optimizer(params, rate), params,
        update_ops=discriminator_update_ops, increment_global_step=False)
    if classifier_loss is not None:
        classifier_rate = optimization.learning_rate(params, base_rate=params['classifier_learning_rate'])
        discriminator_update = tf.group(discriminator_update, optimization.minimize(
            classifier_loss, scope_variables(CLASSIFIER_SCOPE),
            optimization.make_optimizer(params, classifier_rate), params,
            increment_global_step=False))
    generator_rate = optimization.learning_rate(params, base_rate=params['generator_learning_rate'])
    generator_optimizer = optimization.make_optimizer(params, generator_rate)

    def generator_update():
        update = tf.no_op()
        for _ in range(params['generator_updates']):
            with tf.control_dependencies([update]):
                generator_loss, update_ops = new_update_ops(generator_loss_fn)
                update = optimization.minimize(
                    generator_loss, scope_variables(GENERATOR_SCOPE), generator_optimizer,
                    params, update_ops=[op for op in update_ops if op.name.startswith(GENERATOR_SCOPE)],
                    increment_global_step=False)
        with tf.control_dependencies([update]):
            return tf.constant(True)

    with tf.control_dependencies([discriminator_update]):
        if discriminator_steps == 1:
            generator_done = generator_update()
        else:
            is_generator_step = tf.equal(tf.math.floormod(global_step + 1, discriminator_steps), 0)
            generator_done = tf.cond(is_generator_step, generator_update,
                                     lambda: tf.constant(False))
    with tf.control_dependencies([generator_done]):
        return tf.compat.v1.assign_add(global_step, 1).op


def gan_model_fn(features, labels, mode, params, networks, discriminator_losses, generator_loss,
                 discriminator_steps):
    """Returns the EstimatorSpec of a GAN whose `networks` are a GanNetworks.

    discriminator_losses and generator_loss are as in library/generative/losses.py.
    The auxiliary classifier's terms (module docstring) are added here, outside those two.
    """
    generative_spec.check_params(params)
    training = mode == tf.estimator.ModeKeys.TRAIN

    def generate(latents, condition, is_training=False):
        return networks.generator(latents, condition, params, is_training)

    if mode == tf.estimator.ModeKeys.PREDICT:
        return generative_spec.predict_spec(features, params, generate)

    condition = generative_spec.conditioning(labels, params)
    classifier_weight = params['auxiliary_classifier_weight'] if condition is not None else 0.0
    class_outputs = params['num_classes'] if classifier_weight > 0 else 0
    separate_classifier = bool(class_outputs) and params['separate_classifier']
    rejects_fakes = separate_classifier and params['classifier_rejects_fakes']

    def augmented(images):
        return augment.augment(images, params['gan_augment']) if training else images

    def discriminator_network(images, image_labels):
        """Returns the score, then the class logits when they share the discriminator's trunk."""
        return networks.discriminator(
            images, image_labels, params, training, 1 + (0 if separate_classifier else class_outputs),
            bool(class_outputs))

    def discriminate_outputs(images, image_labels=condition):
        """Returns [batch, 1 + class_outputs]: the score, then any class logits."""
        images = augmented(images)
        outputs = discriminator_network(images, image_labels)
        if not separate_classifier:
            return outputs
        class_logits = networks.classifier(images, params, training,
                                           class_outputs + int(rejects_fakes))
        return tf.concat([outputs, class_logits], axis=1)

    def discriminate(images, image_labels=condition):
        """Returns the scores alone (the separate classifier is not built for them)."""
        return discriminator_network(augmented(images), image_labels)[:, :1]

    def discriminate_real_and_fake(real_images, fake_images):
        """Returns (real outputs, fake outputs), each as discriminate_outputs gives them.

        With batch norm both batches go through ONE discriminator call, so real
        and generated images are normalised with the same statistics and cannot
        be told apart by those. Layer norm or none normalise each image alone,
        so two calls give the same scores without concatenating the batches, and
        the generator update, which uses only the fake scores, does not depend on
        the real images' call.
        """
        if not networks.batch_normalized:
            return discriminate_outputs(real_images), discriminate_outputs(fake_images)
        both_labels = None if condition is None else tf.concat([condition] * 2, axis=0)
        outputs = discriminate_outputs(tf.concat([real_images, fake_images], axis=0), both_labels)
        real_count = tf.shape(real_images)[0]
        return outputs[:real_count], outputs[real_count:]

    def generator_objective(fake_outputs):
        """Returns the generator's training loss: the adversarial loss plus the weighted class loss."""
        objective = generator_loss(fake_outputs[:, :1])
        if class_outputs:
            objective += classifier_weight * class_loss_and_accuracy(fake_outputs[:, 1:], condition)[0]
        return objective

    real = features['image']
    latent_shape = [tf.shape(real)[0], params['latent_dim']]
    latents = (tf.random.normal(latent_shape) if training
               else generative_spec.evaluation_latents(latent_shape[0], params))
    fake = generate(latents, condition, training)
    (real_outputs, fake_outputs), discriminator_update_ops = new_update_ops(
        lambda: discriminate_real_and_fake(real, fake))
    loss, terms = discriminator_losses(discriminate, real, fake, real_outputs[:, :1],
                                       fake_outputs[:, :1])
    terms['generator_loss'] = generator_loss(fake_outputs[:, :1])
    if class_outputs:
        real_class = class_loss_and_accuracy(real_outputs[:, 1:], condition, params['num_classes'])
        fake_class = class_loss_and_accuracy(fake_outputs[:, 1:], condition, params['num_classes'])
        if not separate_classifier:
            loss += classifier_weight * real_class[0]
        terms.update(real_class_loss=real_class[0], real_class_accuracy=real_class[1],
                     fake_class_loss=fake_class[0], fake_class_accuracy=fake_class[1])

    if training:
        for name, value in terms.items():
            tf.compat.v1.summary.scalar(name, value)
        tf.compat.v1.summary.image('real_and_generated', generative_spec.summary_images(
            real[:SUMMARY_IMAGES], fake[:SUMMARY_IMAGES]), max_outputs=SUMMARY_IMAGES)

        def generator_loss_after_update():
            fresh = generate(tf.random.normal(latent_shape), condition, True)
            return generator_objective(discriminate_real_and_fake(real, fresh)[1])
        classifier_loss = None
        if separate_classifier:
            classifier_loss = classifier_weight * real_class[0]
        if rejects_fakes:
            generated_class = tf.fill(tf.shape(condition), params['num_classes'])
            classifier_loss += classifier_weight * class_loss_and_accuracy(
                fake_outputs[:, 1:], generated_class)[0]
        train_op = gan_train_op(params, loss, discriminator_update_ops,
                                generator_loss_after_update, networks.discriminator_scope,
                                discriminator_steps, classifier_loss)
        return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

    metrics = {name: tf.compat.v1.metrics.mean(value) for name, value in terms.items()}
    metrics.update(sliced_wasserstein.metrics(real, fake))
    hook = generative_images.SampleImagesHook(
        generative_images.samples_dir(params),
        generative_images.fixed_sample_tensors(params, generate))
    return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics,
                                      evaluation_hooks=[hook])
