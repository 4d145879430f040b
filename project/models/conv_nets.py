"""The convolutional networks of the generative models: what a GAN or autoencoder user edits.

`generator` maps latent vectors to images (the DCGAN/WGAN-GP generator and the
autoencoder/VAE decoder); `conv_encoder` maps images to vectors (the DCGAN
discriminator, the WGAN-GP critic, the separate classifier and the
autoencoder/VAE encoder). Both build their variables under one named variable
scope with AUTO_REUSE, so calling a network twice (real and fake images)
shares its weights, and a scope name selects exactly one network's variables.
The GANs start every kernel from N(0, 0.02), as in the DCGAN paper; the
autoencoders keep the layers' default Glorot initialisation. How the networks
are trained is library/generative/.
"""
import tensorflow as tf

from library.config import ConfigError
from library.generative import gan, layers

KERNEL_SIZE = 4
LEAKY_RELU_ALPHA = 0.2
SMALLEST_FEATURE_MAP = 4
WEIGHT_STDDEV = 0.02
ENCODER_SCOPE = 'encoder'
DECODER_SCOPE = 'decoder'


def upsampling_plan(image_size):
    """Returns (start_size, doublings): image_size = start_size * 2**doublings.

    Halves the image size while it stays even and the half is at least 4, so
    64 -> (4, 4), 48 -> (6, 3), 32 -> (4, 3), 28 -> (7, 2).
    """
    size, doublings = int(image_size), 0
    while size % 2 == 0 and size // 2 >= SMALLEST_FEATURE_MAP:
        size //= 2
        doublings += 1
    if doublings == 0:
        raise ConfigError('image_size %d cannot be built by the generative models: it needs '
                          'an even size of at least 8 (such as 16, 28, 32, 48, 64)' % image_size)
    return size, doublings


def gan_initializer():
    """Returns the N(0, WEIGHT_STDDEV) kernel initializer of the DCGAN paper."""
    return tf.compat.v1.random_normal_initializer(stddev=WEIGHT_STDDEV)


def generator(latents, labels, params, training, scope='generator', kernel_initializer=None):
    """Returns images in [-1, 1] of shape [batch, image_size, image_size, channels].

    Dense -> reshape -> transposed convolutions that double the size, each but
    the last followed by batch norm and ReLU; tanh output. `labels` (or None)
    are appended to the latent vectors one-hot when the model is conditional.
    `kernel_initializer` (None: Glorot) starts every kernel.
    """
    start_size, doublings = upsampling_plan(params['image_size'])
    filters = params['gan_filters'] * 2 ** (doublings - 1)
    with tf.compat.v1.variable_scope(scope, reuse=tf.compat.v1.AUTO_REUSE):
        inputs = latents if labels is None else tf.concat(
            [latents, layers.label_one_hot(labels, params)], axis=1)
        net = tf.compat.v1.layers.dense(inputs, start_size * start_size * filters,
                                        use_bias=False, kernel_initializer=kernel_initializer,
                                        name='project')
        net = tf.reshape(net, [-1, start_size, start_size, filters])
        net = tf.nn.relu(layers.normalize(net, 'batch', training, 'project_bn'))
        for index in range(doublings - 1):
            filters //= 2
            net = tf.compat.v1.layers.conv2d_transpose(
                net, filters, KERNEL_SIZE, strides=2, padding='same', use_bias=False,
                kernel_initializer=kernel_initializer, name='deconv%d' % index)
            net = tf.nn.relu(layers.normalize(net, 'batch', training, 'deconv%d_bn' % index))
        net = tf.compat.v1.layers.conv2d_transpose(
            net, params['channels'], KERNEL_SIZE, strides=2, padding='same',
            kernel_initializer=kernel_initializer, name='to_image')
        return tf.tanh(net)


def conv_encoder(images, labels, params, training, outputs, normalization, scope,
                 kernel_initializer=None, label_projection=False, global_max_pool=False):
    """Returns [batch, outputs] from strided convolutions with leaky ReLU 0.2.

    Mirrors `generator`: each convolution halves the size; `normalization`
    follows every convolution except the first; the output layer is linear
    (no sigmoid: losses take logits, the WGAN critic is unbounded). Leaky ReLU
    is written as max(x, 0.2 x), which Grappler's remapper does not try (and
    fail, with a logged error) to fuse. `labels` (or None) enter as one-hot
    constant feature maps next to the image channels or, with
    `label_projection`, by projection (Miyato & Koyama, 2018): the inner product
    of a learned per-class embedding with the final features is added to the
    first output (the score) only, so any further outputs (class logits) come
    from features that never saw the label. `global_max_pool` takes the maximum of
    each final feature map instead of flattening them (as the cnn classifier
    does: "is this pattern anywhere", which learns shapes at random positions
    faster). `kernel_initializer` (None: Glorot) starts every kernel.
    """
    _, doublings = upsampling_plan(params['image_size'])
    filters = params['gan_filters']
    with tf.compat.v1.variable_scope(scope, reuse=tf.compat.v1.AUTO_REUSE):
        net = images
        if labels is not None and not label_projection:
            one_hot = layers.label_one_hot(labels, params)[:, tf.newaxis, tf.newaxis, :]
            net = tf.concat([net, one_hot * tf.ones_like(images[..., :1])], axis=3)
        for index in range(doublings):
            net = tf.compat.v1.layers.conv2d(
                net, filters, KERNEL_SIZE, strides=2, padding='same',
                kernel_initializer=kernel_initializer, name='conv%d' % index)
            if index > 0:
                net = layers.normalize(net, normalization, training, 'conv%d_norm' % index)
            net = tf.maximum(net, LEAKY_RELU_ALPHA * net)
            filters *= 2
        net = tf.reduce_max(net, axis=[1, 2]) if global_max_pool else tf.compat.v1.layers.flatten(net)
        output = tf.compat.v1.layers.dense(net, outputs, kernel_initializer=kernel_initializer,
                                           name='output')
        if labels is None or not label_projection:
            return output
        embedding = tf.compat.v1.get_variable('label_projection', [params['num_classes'], net.shape[-1]],
                                              initializer=kernel_initializer)
        class_embedding = tf.matmul(layers.label_one_hot(labels, params), embedding)
        projection = tf.reduce_sum(class_embedding * net, axis=1, keepdims=True)
        return tf.concat([output[:, :1] + projection, output[:, 1:]], axis=1)


def gan_networks(discriminator_scope, normalization):
    """Returns the GanNetworks of a GAN whose discriminator normalises with `normalization`."""
    def generate(latents, labels, params, training):
        return generator(latents, labels, params, training, gan.GENERATOR_SCOPE, gan_initializer())

    def discriminate(images, labels, params, training, outputs, label_projection):
        return conv_encoder(images, labels, params, training, outputs, normalization,
                            discriminator_scope, gan_initializer(), label_projection=label_projection)

    def classify(images, params, training, outputs):
        """Layer norm classifies a batch of generated images alone as it would among real ones;
        global max pooling learns shapes at random positions fast."""
        return conv_encoder(images, None, params, training, outputs, 'layer', gan.CLASSIFIER_SCOPE,
                            global_max_pool=True)
    return gan.GanNetworks(generate, discriminate, classify, discriminator_scope,
                           batch_normalized=normalization == 'batch')


def encoder(images, labels, params, training, outputs):
    """The autoencoders' encoder: conv_encoder with batch norm."""
    return conv_encoder(images, labels, params, training, outputs, 'batch', ENCODER_SCOPE)


def decoder(latents, labels, params, training):
    """The autoencoders' decoder: the generator network."""
    return generator(latents, labels, params, training, DECODER_SCOPE)
