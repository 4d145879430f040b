"""Random seeds of the input pipeline: reproducible with random_seed, new in every epoch and on every resume.

Every example gets a stateless seed [place, index]: `place` hashes its file,
the epoch and the run's seed (one hash per file and epoch), `index` is its
record number in the file (-1 for an image file). The recipe derives its
crop, flip and colour draws from that seed, so an image gets the same
augmentation whichever worker or thread reads it.
"""
import hashlib
import random

import tensorflow as tf

from library import checkpoints


def run_seed(random_seed, model_dir):
    """Returns the seed of one input_fn call: from `random_seed` and the checkpointed step, or random.

    Mixing in the step makes a resumed run draw new augmentations instead of
    repeating those of its first epochs.
    """
    if random_seed is None:
        return random.SystemRandom().randrange(2 ** 62)
    step = checkpoints.current_step(model_dir) if model_dir else 0
    digest = hashlib.sha256(('%d/%d' % (random_seed, step)).encode()).digest()
    return int.from_bytes(digest[:8], 'little') >> 2


def place_seed(filename, epoch, seed):
    """Returns the int64 hash of (file, epoch, run seed), element by element (any shape)."""
    return tf.strings.to_hash_bucket_fast(tf.strings.join(
        [filename, tf.strings.as_string(epoch), str(seed)], separator='/'), 2 ** 62)


def example_seed(place, index):
    """Returns the stateless seed (int64 [2]) of the record `index` of a file whose place_seed is `place`."""
    return tf.stack([place, tf.cast(index, tf.int64)])
