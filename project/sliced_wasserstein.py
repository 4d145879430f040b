"""Sliced Wasserstein distance between held-out and generated images: a GAN metric comparable across a run.

A GAN's own losses judge the generator with the discriminator of the same
checkpoint, so their values cannot be compared between checkpoints whose
discriminators differ. This distance uses no network: both image sets are
projected on DIRECTIONS fixed random unit vectors of pixel space, and the
Wasserstein-1 distance between the two sets' projections (sorted, paired in
order) is averaged over the directions (the sliced Wasserstein distance,
Rabin et al. 2011; Karras et al. 2018 use it on image patches to rank GANs).
It is 0 for identical sets and smaller the closer the generated images come
to the held-out ones. In pixel space it weighs colour and layout far more than
fine detail: it catches noise and a collapse onto a few colours, not whether
edges are sharp. Streaming: the directions are drawn once per evaluation, every
batch adds its projections, and the value sorts all of them.
"""
import tensorflow as tf

DIRECTIONS = 128
DIRECTION_SEED = (7, 11)


def random_directions(dimension, count=DIRECTIONS):
    """Returns [dimension, count] unit vectors, the same in every graph."""
    directions = tf.random.stateless_normal([dimension, count], seed=DIRECTION_SEED)
    return directions / tf.norm(directions, axis=0, keepdims=True)


def projections(images, directions):
    """Returns [batch, directions] inner products of the flattened images with the directions."""
    return tf.matmul(tf.reshape(images, [tf.shape(images)[0], -1]), directions)


def distance(real_projections, fake_projections):
    """Returns the mean over directions of the 1-D Wasserstein-1 distance of two equally large sets."""
    return tf.reduce_mean(tf.abs(tf.sort(real_projections, axis=0) - tf.sort(fake_projections, axis=0)))


def local_metric_variable(initial_value, name, shape=None):
    """Returns a variable that the evaluation's local-variable initializer sets to `initial_value`."""
    return tf.compat.v1.Variable(
        initial_value, shape=shape, trainable=False, name=name,
        collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES, tf.compat.v1.GraphKeys.METRIC_VARIABLES])


def metric(real, fake):
    """Returns (value, update_op) of the sliced Wasserstein distance over all evaluation batches.

    `real` and `fake` are image batches of the same shape (as many generated
    images as held-out ones in every batch).
    """
    with tf.compat.v1.variable_scope(None, default_name='sliced_wasserstein'):
        directions = local_metric_variable(random_directions(real.shape[1] * real.shape[2] * real.shape[3]),
                                           'directions')
        stores = [local_metric_variable(tf.zeros([0, DIRECTIONS]), name, tf.TensorShape([None, DIRECTIONS]))
                  for name in ('real', 'fake')]
        update = tf.group(*[store.assign(tf.concat([store, projections(images, directions)], axis=0))
                            for store, images in zip(stores, (real, fake))])
        return distance(stores[0].read_value(), stores[1].read_value()), update
