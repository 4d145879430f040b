"""Seeding and the tf.estimator.RunConfig built from the merged config."""
import os
import random

import numpy as np
import tensorflow as tf

from library import distribution


def best_model_dir(config):
    """Returns the folder of best-validation snapshots (default <model_dir>/best)."""
    return config['best_model_dir'] or os.path.join(config['model_dir'], 'best')


def seed_everything(seed):
    """Seeds Python, NumPy and TensorFlow when `seed` is not None."""
    if seed is None:
        return
    random.seed(seed)
    np.random.seed(seed)
    tf.compat.v1.set_random_seed(seed)


def session_config(config):
    """Returns the tf.compat.v1.ConfigProto for threads, GPU memory growth and XLA."""
    proto = tf.compat.v1.ConfigProto(
        allow_soft_placement=True,
        intra_op_parallelism_threads=config['intra_op_threads'],
        inter_op_parallelism_threads=config['inter_op_threads'])
    proto.gpu_options.allow_growth = bool(config['gpu_memory_growth'])
    if config['xla']:
        proto.graph_options.optimizer_options.global_jit_level = (
            tf.compat.v1.OptimizerOptions.ON_1)
    return proto


def make_run_config(config, **overrides):
    """Returns the tf.estimator.RunConfig for `config` (keyword arguments override).

    Its distribution strategies come from `distribution` (library/distribution.py), which
    also splits the CPU into cpu_devices logical devices before TensorFlow runs anything.
    """
    train_distribute, eval_distribute = distribution.make_strategies(config)
    seed_everything(config['random_seed'])
    steps = config['save_checkpoints_steps']
    proto = session_config(config)
    proto.device_filters.extend(distribution.device_filters(config) or [])
    arguments = dict(
        model_dir=config['model_dir'],
        tf_random_seed=config['random_seed'],
        save_summary_steps=config['save_summary_steps'],
        save_checkpoints_steps=steps,
        save_checkpoints_secs=None if steps else config['save_checkpoints_secs'],
        keep_checkpoint_max=config['keep_checkpoint_max'],
        log_step_count_steps=config['log_step_count_steps'],
        session_config=proto,
        train_distribute=train_distribute,
        eval_distribute=eval_distribute)
    arguments.update(overrides)
    return tf.estimator.RunConfig(**arguments)
