"""Images that show how a generative model is doing: sample grids and interpolations.

The latent vectors are drawn from NumPy generators seeded with `sample_seed`,
so every evaluation of a run (and `--mode sample`) decodes the same vectors
and the grids show progress. Grids are written as PNG files to
<model_dir>/samples/<name>-step-<global step>.png and as image summaries to
the TensorBoard run in the same folder.
"""
import io
import os
import uuid

import numpy as np
import tensorflow as tf
from PIL import Image

from library import files

SAMPLES_FOLDER = 'samples'


def samples_dir(params):
    """Returns <model_dir>/samples."""
    return os.path.join(params['model_dir'], SAMPLES_FOLDER)


def grid_layout(params):
    """Returns (rows, columns) of the sample grid: one row per class when conditional."""
    columns = params['sample_grid_size']
    rows = params['num_classes'] if params['conditional'] else columns
    return rows, columns


def grid_latents(params):
    """Returns the fixed latent vectors of the sample grid, float32 [rows * columns, latent_dim].

    Conditional grids reuse one vector per column in every row, so a column
    shows the same latent vector rendered as each class.
    """
    rows, columns = grid_layout(params)
    generator = np.random.RandomState(params['sample_seed'])
    if params['conditional']:
        latents = generator.standard_normal((columns, params['latent_dim']))
        latents = np.tile(latents, (rows, 1))
    else:
        latents = generator.standard_normal((rows * columns, params['latent_dim']))
    return latents.astype(np.float32)


def grid_labels(params):
    """Returns the class of every grid cell (int32, row-major), or None when unconditional."""
    if not params['conditional']:
        return None
    rows, columns = grid_layout(params)
    return np.repeat(np.arange(rows, dtype=np.int32), columns)


def interpolation_latents(params):
    """Returns [rows * steps, latent_dim]: each row goes linearly between two random vectors."""
    rows, steps = params['interpolation_rows'], params['interpolation_steps']
    generator = np.random.RandomState(params['sample_seed'] + 1)
    starts = generator.standard_normal((rows, 1, params['latent_dim']))
    ends = generator.standard_normal((rows, 1, params['latent_dim']))
    weights = np.linspace(0.0, 1.0, steps).reshape(1, steps, 1)
    latents = starts + weights * (ends - starts)
    return latents.reshape(rows * steps, params['latent_dim']).astype(np.float32)


def interpolation_labels(params):
    """Returns the class of every interpolation cell (row r is class r mod num_classes), or None."""
    if not params['conditional']:
        return None
    rows, steps = params['interpolation_rows'], params['interpolation_steps']
    return np.repeat(np.arange(rows, dtype=np.int32) % params['num_classes'], steps)


def to_uint8(images):
    """Maps images in [-1, 1] to uint8 [0, 255] (NumPy arrays or tensors alike)."""
    if isinstance(images, np.ndarray):
        return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


def image_grid(images, rows):
    """Tiles images [rows * columns, height, width, channels] in [-1, 1] into one uint8 image.

    The result is [rows * height, columns * width, channels], row-major.
    """
    images = np.asarray(images)
    count, height, width, channels = images.shape
    if count % rows:
        raise ValueError('%d images do not fill %d rows' % (count, rows))
    columns = count // rows
    tiles = to_uint8(images).reshape(rows, columns, height, width, channels)
    return tiles.transpose(0, 2, 1, 3, 4).reshape(rows * height, columns * width, channels)


def encode_png(grid):
    """Returns the PNG bytes of a uint8 [height, width, 1 or 3] image."""
    pixels = grid[..., 0] if grid.shape[-1] == 1 else grid
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format='PNG')
    return buffer.getvalue()


def image_summary(tag, grid, png):
    """Returns a tf.compat.v1.Summary holding one encoded image."""
    image = tf.compat.v1.Summary.Image(height=grid.shape[0], width=grid.shape[1],
                                       colorspace=grid.shape[2], encoded_image_string=png)
    return tf.compat.v1.Summary(value=[tf.compat.v1.Summary.Value(tag=tag, image=image)])


def write_grids(output_dir, global_step, named_images):
    """Writes each {name: (images, rows)} as <output_dir>/<name>-step-<step>.png and a summary.

    Each call writes its own uniquely named events file (a FileWriter needs
    graph mode to start, hence the throwaway graph), so evaluations and
    --mode sample never clash. Returns the paths of the PNG files.
    """
    tf.io.gfile.makedirs(output_dir)
    with tf.Graph().as_default():
        writer = tf.compat.v1.summary.FileWriter(
            output_dir, filename_suffix='.%s' % uuid.uuid4().hex)
    paths = []
    for name, (images, rows) in sorted(named_images.items()):
        grid = image_grid(images, rows)
        png = encode_png(grid)
        path = os.path.join(output_dir, '%s-step-%08d.png' % (name, global_step))
        files.write_atomically(path, png)
        writer.add_summary(image_summary(name, grid, png), global_step)
        paths.append(path)
    writer.close()
    return paths


def fixed_sample_tensors(params, generate):
    """Returns {name: (images tensor, rows)} for the sample grid and the interpolation.

    `generate(latents, labels)` maps a latent tensor (and label tensor or None)
    to images in inference mode.
    """
    def images(latents, labels):
        return generate(tf.constant(latents), None if labels is None else tf.constant(labels))
    rows, _ = grid_layout(params)
    return {
        'samples': (images(grid_latents(params), grid_labels(params)), rows),
        'interpolation': (images(interpolation_latents(params), interpolation_labels(params)),
                          params['interpolation_rows']),
    }


class SampleImagesHook(tf.estimator.SessionRunHook):
    """Evaluation hook writing sample grids when the evaluation ends.

    `fixed_images` ({name: (tensor, rows)}) depend on no input and are run once
    in `end`; `first_batch_images` (same form) depend on the evaluation input
    and are captured with the first batch (e.g. inputs next to reconstructions).
    """

    def __init__(self, output_dir, fixed_images, first_batch_images=None):
        self._output_dir = output_dir
        self._fixed_images = fixed_images
        self._first_batch_images = first_batch_images or {}
        self._captured = {}
        self._global_step = None

    def begin(self):
        self._captured = {}
        self._global_step = tf.compat.v1.train.get_global_step()

    def before_run(self, run_context):
        if self._captured or not self._first_batch_images:
            return None
        return tf.estimator.SessionRunArgs(
            {name: tensor for name, (tensor, _) in self._first_batch_images.items()})

    def after_run(self, run_context, run_values):
        if run_values.results:
            self._captured = {name: (images, self._first_batch_images[name][1])
                              for name, images in run_values.results.items()}

    def end(self, session):
        fetched = session.run({name: tensor for name, (tensor, _) in self._fixed_images.items()})
        named_images = {name: (images, self._fixed_images[name][1])
                        for name, images in fetched.items()}
        named_images.update(self._captured)
        write_grids(self._output_dir, int(session.run(self._global_step)), named_images)
