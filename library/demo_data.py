"""Draws the demo image set: circles, squares and triangles as JPEG files.

    python -m library.demo_data --out dataset

writes `dataset/train/<class>/*.jpg` and `dataset/test/<class>/*.jpg`. Shapes
get random colours, sizes, positions and rotations on random backgrounds with
a little noise, and images have varied sizes, so the set is learnable but not
trivial. The same seed always draws the same files.
"""
import argparse
import io
import math
import os
import sys

from library import console

if __name__ == '__main__':
    console.configure(console.verbose_requested(sys.argv[1:]))  # before TensorFlow is imported

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

CLASSES = ('circle', 'square', 'triangle')
MIN_CONTRAST = 120


def random_colour(rng):
    return tuple(int(value) for value in rng.integers(0, 256, size=3))


def contrasting_colours(rng):
    """Returns (background, foreground) colours that differ clearly in brightness or hue."""
    while True:
        background, foreground = random_colour(rng), random_colour(rng)
        if sum(abs(a - b) for a, b in zip(background, foreground)) >= MIN_CONTRAST:
            return background, foreground


def polygon(center, radius, sides, angle):
    return [(center[0] + radius * math.cos(angle + 2 * math.pi * k / sides),
             center[1] + radius * math.sin(angle + 2 * math.pi * k / sides))
            for k in range(sides)]


def draw_shape(shape, size, rng):
    """Returns an RGB PIL image of `size` (width, height) showing one `shape`."""
    width, height = size
    background, foreground = contrasting_colours(rng)
    image = Image.new('RGB', size, background)
    draw = ImageDraw.Draw(image)
    short_edge = min(width, height)
    radius = rng.uniform(0.18, 0.4) * short_edge
    center = (rng.uniform(radius, width - radius), rng.uniform(radius, height - radius))
    angle = rng.uniform(0, 2 * math.pi)
    if shape == 'circle':
        draw.ellipse([center[0] - radius, center[1] - radius,
                      center[0] + radius, center[1] + radius], fill=foreground)
    elif shape == 'square':
        draw.polygon(polygon(center, radius, 4, angle), fill=foreground)
    elif shape == 'triangle':
        draw.polygon(polygon(center, radius, 3, angle), fill=foreground)
    else:
        raise ValueError('unknown shape %r; expected one of %s' % (shape, ', '.join(CLASSES)))
    pixels = np.asarray(image.filter(ImageFilter.GaussianBlur(0.6)), dtype=np.int16)
    noise = rng.normal(0, 6, size=pixels.shape).astype(np.int16)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def random_size(rng, min_edge, max_edge):
    """Returns a (width, height) with edges in [min_edge, max_edge] and a varied aspect ratio."""
    long_edge = int(rng.integers(min_edge, max_edge + 1))
    short_edge = int(max(min_edge, round(long_edge * rng.uniform(0.6, 1.0))))
    return (long_edge, short_edge) if rng.random() < 0.5 else (short_edge, long_edge)


def write_jpeg(image, path, quality=90):
    buffer = io.BytesIO()
    image.save(buffer, 'JPEG', quality=quality)
    with tf.io.gfile.GFile(path, 'wb') as stream:
        stream.write(buffer.getvalue())


def generate(out_dir, train_per_class=500, test_per_class=100, seed=0,
             min_edge=64, max_edge=256, classes=CLASSES):
    """Draws `train_per_class` and `test_per_class` JPEGs per class under `out_dir`.

    Returns {'train': train folder, 'test': test folder, 'classes': classes}.
    """
    rng = np.random.default_rng(seed)
    folders = {}
    for split, per_class in (('train', train_per_class), ('test', test_per_class)):
        folders[split] = os.path.join(out_dir, split)
        for shape in classes:
            class_dir = os.path.join(folders[split], shape)
            tf.io.gfile.makedirs(class_dir)
            for index in range(per_class):
                image = draw_shape(shape, random_size(rng, min_edge, max_edge), rng)
                write_jpeg(image, os.path.join(class_dir, '%s_%04d.jpg' % (shape, index)))
    return dict(folders, classes=list(classes))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='dataset', help='folder that receives train/ and test/')
    parser.add_argument('--train_per_class', type=int, default=500,
                        help='training images per class')
    parser.add_argument('--test_per_class', type=int, default=100, help='test images per class')
    parser.add_argument('--min_edge', type=int, default=64, help='smallest image edge in pixels')
    parser.add_argument('--max_edge', type=int, default=256, help='largest image edge in pixels')
    parser.add_argument('--seed', type=int, default=0, help='random seed (same seed, same files)')
    parser.add_argument(console.VERBOSE_FLAG, action='store_true', help=console.VERBOSE_HELP)
    args = parser.parse_args(argv)
    for name in ('train_per_class', 'test_per_class', 'min_edge'):
        if getattr(args, name) < 1:
            parser.error('--%s must be at least 1, got %d' % (name, getattr(args, name)))
    if args.max_edge < args.min_edge:
        parser.error('--max_edge %d is smaller than --min_edge %d' % (args.max_edge, args.min_edge))
    folders = generate(args.out, args.train_per_class, args.test_per_class, args.seed,
                       args.min_edge, args.max_edge)
    total = (args.train_per_class + args.test_per_class) * len(CLASSES)
    print('wrote %d images (%s) to %s and %s' % (
        total, ', '.join(CLASSES), folders['train'], folders['test']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
