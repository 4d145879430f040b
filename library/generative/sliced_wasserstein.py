"""Multi-scale sliced Wasserstein distance (SWD) of generated to held-out images: a GAN metric comparable
across a run.

A GAN's own losses judge the generator with the discriminator of the same
checkpoint, so their values cannot be compared between checkpoints whose
discriminators differ. This distance uses no network (Karras et al. 2018,
"Progressive Growing of GANs", section 5). Every image is split into a
Laplacian pyramid: band-pass levels of its full size, half size, ... down to a
low-pass level of at least SMALLEST_LEVEL pixels (32 -> 32, 16, 8). On every
level, 7x7 patches on a regular grid (GRID_POSITIONS per axis) of the held-out
and of as many generated images are normalised per channel with the held-out
patches' mean and standard deviation, projected on DIRECTIONS fixed random
unit vectors, and the Wasserstein-1 distance of the two sets' projections
(sorted, paired in order) is averaged over the directions (Rabin et al. 2011).

`swd_<N>px` is that distance on the level of N pixels and `swd` their mean;
0 for identical sets, smaller the closer the generated images come to the
held-out ones. The finest levels see edges and texture (noise, blur), the
coarsest colour and layout, so unlike one distance over whole images it tells
sharp shapes from soft blobs. Streamed: every evaluation batch adds its
patches; the first MAX_PATCHES of each level (512 images) enter the value.
"""
import numpy as np
import tensorflow as tf

DIRECTIONS = 128
DIRECTION_SEED = (7, 11)
PATCH_SIZE = 7
GRID_POSITIONS = 8
SMALLEST_LEVEL = 8
MAX_PATCHES = 512 * GRID_POSITIONS ** 2
BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)


def level_sizes(image_size):
    """Returns the sizes of the pyramid levels: halving while the half is at least SMALLEST_LEVEL."""
    sizes = [int(image_size)]
    while sizes[-1] // 2 >= SMALLEST_LEVEL:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def blurred(images):
    """Returns `images` smoothed by the 5x5 binomial filter (edges mirrored)."""
    taps = np.array(BINOMIAL) / sum(BINOMIAL)
    kernel = np.outer(taps, taps)[:, :, np.newaxis, np.newaxis] * np.ones([1, 1, images.shape[-1], 1])
    padded = tf.pad(images, [[0, 0], [2, 2], [2, 2], [0, 0]], mode='REFLECT')
    return tf.nn.depthwise_conv2d(padded, tf.constant(kernel, tf.float32), [1, 1, 1, 1], 'VALID')


def laplacian_pyramid(images, levels):
    """Returns `levels` images: the band-pass levels of `images` from the finest, then the low-pass rest."""
    pyramid = []
    for _ in range(levels - 1):
        smaller = blurred(images)[:, ::2, ::2]
        pyramid.append(images - tf.image.resize(smaller, images.shape[1:3]))
        images = smaller
    return pyramid + [images]


def grid_patches(images):
    """Returns [batch * positions, 7 * 7 * channels] patches at GRID_POSITIONS evenly spaced places per axis."""
    size, channels = images.shape[1], images.shape[3]
    starts = sorted(set(np.round(np.linspace(0, size - PATCH_SIZE, GRID_POSITIONS)).astype(int)))
    offsets = np.array(starts)[:, np.newaxis] + np.arange(PATCH_SIZE)
    rows = tf.gather(images, offsets, axis=1)  # [batch, positions, 7, width, channels]
    patches = tf.gather(rows, offsets, axis=3)  # [batch, positions, 7, positions, 7, channels]
    patches = tf.transpose(patches, [0, 1, 3, 2, 4, 5])
    return tf.reshape(patches, [-1, PATCH_SIZE * PATCH_SIZE * channels])


def random_directions(dimension, count=DIRECTIONS):
    """Returns [dimension, count] unit vectors, the same in every graph."""
    directions = tf.random.stateless_normal([dimension, count], seed=DIRECTION_SEED)
    return directions / tf.norm(directions, axis=0, keepdims=True)


def distance(real_projections, fake_projections):
    """Returns the mean over directions of the 1-D Wasserstein-1 distance of two equally large sets."""
    return tf.reduce_mean(tf.abs(tf.sort(real_projections, axis=0) - tf.sort(fake_projections, axis=0)))


def patch_distance(real_patches, fake_patches, channels):
    """Returns the SWD of two patch sets, both normalised per channel with the real patches' statistics."""
    mean, variance = tf.nn.moments(tf.reshape(real_patches, [-1, channels]), axes=[0])
    pixels = [PATCH_SIZE * PATCH_SIZE]  # a patch holds its pixels' channels one after the other
    mean, scale = tf.tile(mean, pixels), tf.tile(tf.math.rsqrt(variance + 1e-8), pixels)
    directions = random_directions(real_patches.shape[1])

    def projected(patches):
        return tf.matmul((patches - mean) * scale, directions)
    return distance(projected(real_patches), projected(fake_patches))


def local_metric_variable(initial_value, name, shape=None):
    """Returns a variable that the evaluation's local-variable initializer sets to `initial_value`."""
    return tf.compat.v1.Variable(
        initial_value, shape=shape, trainable=False, name=name,
        collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES, tf.compat.v1.GraphKeys.METRIC_VARIABLES])


def metrics(real, fake):
    """Returns {name: (value, update_op)}: swd_<N>px per pyramid level and their mean swd.

    `real` and `fake` are batches of square images of one static size (as many
    generated images as held-out ones in every batch), pixel values in [-1, 1].
    """
    channels = real.shape[3]
    sizes = level_sizes(real.shape[1])
    dimension = PATCH_SIZE * PATCH_SIZE * channels
    with tf.compat.v1.variable_scope(None, default_name='swd'):
        stores = [[local_metric_variable(tf.zeros([0, dimension]), 'level%d_%s' % (level, kind),
                                         tf.TensorShape([None, dimension]))
                   for level in range(len(sizes))] for kind in ('real', 'fake')]
        updates = []
        for kind_stores, images in zip(stores, (real, fake)):
            for store, level in zip(kind_stores, laplacian_pyramid(images, len(sizes))):
                updates.append(store.assign(tf.concat([store, grid_patches(level)], axis=0)[:MAX_PATCHES]))
        update = tf.group(*updates)
        values = [patch_distance(real_store.read_value(), fake_store.read_value(), channels)
                  for real_store, fake_store in zip(*stores)]
    result = {'swd_%dpx' % size: (value, update) for size, value in zip(sizes, values)}
    result['swd'] = (tf.add_n(values) / len(values), update)
    return result
