"""Reading what the checkpoints of a model_dir hold."""
import tensorflow as tf


def current_step(model_dir):
    """Returns the global step of the latest checkpoint in `model_dir` (0 when there is none)."""
    checkpoint = tf.train.latest_checkpoint(model_dir)
    if checkpoint is None:
        return 0
    # Not tf.train.load_variable: on ram:// it takes a checkpoint prefix for a folder.
    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint)
    return int(reader.get_tensor(tf.compat.v1.GraphKeys.GLOBAL_STEP))
