"""--mode predict: classify image files with a checkpoint, one JSON line per image.

Each file is checked and preprocessed exactly as the exported SavedModel does it: the
header checks of library/data/headers.py (format, size within `max_pixels`, end marker)
before anything is decoded, then the recipe's preprocess_for_serving. A file that cannot
be read, fails a check or cannot be decoded gets one error line on stderr naming it; the
others are still classified, and the exit code is 1 when any file failed.
"""
import json
import sys

import numpy as np
import tensorflow as tf

from library import config as config_lib
from library import estimator as estimator_lib
from library.data import headers


def load_image(path, preprocess_for_serving, params):
    """Returns the preprocessed float32 image in `path`; raises ValueError saying why it failed."""
    try:
        with tf.io.gfile.GFile(path, 'rb') as stream:
            encoded = stream.read()
    except tf.errors.OpError as error:
        raise ValueError('cannot read (%s)' % error.message) from None
    problem = headers.image_problem(tf.constant(encoded), params['max_pixels']).numpy().decode()
    if problem:
        raise ValueError(problem)
    try:
        return preprocess_for_serving(tf.constant(encoded), params).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as error:
        reason = error.message.splitlines()[0] if error.message else type(error).__name__
        raise ValueError('not a decodable JPEG/PNG/GIF/BMP image (%s)' % reason) from None


def predict(args, config, recipe):
    """Prints {"file", "class", "class_name", "probability"} for each of --images."""
    if not args.images:
        raise config_lib.ConfigError('--mode predict needs --images FILE [FILE ...]')
    estimator, params = estimator_lib.make_estimator(config, recipe)
    checkpoint = estimator_lib.fitting_checkpoint(args.checkpoint, config, recipe, params)
    files, images = [], []
    failed = 0
    for path in args.images:
        try:
            images.append(load_image(path, recipe.preprocess_for_serving, params))
            files.append(path)
        except ValueError as error:
            sys.stderr.write('predict: error: %s: %s\n' % (path, error))
            failed += 1
    if images:
        batch = np.stack(images)

        def input_fn():
            return tf.data.Dataset.from_tensor_slices({'image': batch}).batch(
                params['eval_batch_size'])

        results = estimator.predict(input_fn, predict_keys=['classes', 'probabilities'],
                                    checkpoint_path=checkpoint)
        for path, result in zip(files, results):
            index = int(result['classes'])
            sys.stdout.write(json.dumps({
                'file': path,
                'class': index,
                'class_name': params['class_names'][index],
                'probability': round(float(result['probabilities'][index]), 6),
            }) + '\n')
    sys.stdout.flush()
    return 1 if failed else 0
