"""Finding the record that made a fast input pipeline fail, to name it in one line."""
import tensorflow as tf

from library import image_folders
from library.data import decode, examine, folders, shards

AUTOTUNE = tf.data.AUTOTUNE
INPUT_KEYS = ('train_files', 'eval_files')


def examined_elements(params, key):
    """Returns the examined records or files of config key `key`, in order."""
    if image_folders.is_image_folder(params[key]):
        return folders.evaluation_elements(params, key, None)
    files = shards.matching_files(params[key], key)
    return examine.read_records(files, training=False, seed=0, epochs=1, num_classes=params.get('num_classes'))


def first_problem(params, key):
    """Returns 'input_fn: <record N of FILE>: <problem>; set skip_corrupt: ...' for the first record of
    config key `key` that is malformed or cannot be decoded, or None when every one is fine.

    Every image is decoded whole once, so this takes about one pass over the data.
    """
    channels = params['channels']

    def decode_whole(element):
        return (decode.decode_any(element['encoded'], channels),)

    def problem_of(element):
        problem = element['problem']

        def decoding_problem():
            _, found = examine.guarded(decode_whole, element, (tf.zeros([1, 1, channels], tf.uint8),))
            return found
        found = tf.cond(tf.equal(problem, ''), decoding_problem, lambda: problem)
        return element['filename'], element['index'], found

    problems = examined_elements(params, key).map(problem_of, num_parallel_calls=AUTOTUNE)
    for filename, index, problem in problems.filter(lambda filename, index, problem: problem != '').take(1):
        place = examine.location(filename, index).numpy().decode()
        return 'input_fn: %s: %s%s' % (place, problem.numpy().decode(), examine.SKIP_HINT)
    return None


def input_problem(params):
    """Returns the first_problem of train_files, else of eval_files, else None."""
    for key in INPUT_KEYS:
        if params.get(key) and not params.get('synthetic'):
            problem = first_problem(params, key)
            if problem:
                return problem
    return None
