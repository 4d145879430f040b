"""Resume only what is the same run: the saved config of a model_dir against the config of this start.

`<model_dir>/config.yaml` is the config a run started with and is never overwritten
once a checkpoint exists. A resume whose config differs writes `config-step-N.yaml`
(the config in effect from global step N on) beside it. A resume may change the
keys of RESUMABLE_KEYS (run length, evaluation, checkpoints, logging, where and how
fast it runs); a difference in any other key (IDENTITY_KEYS and keys not yet
classified) changes what the checkpoints mean and stops the run with exit code 2,
unless --allow_config_change accepts it.
"""
import os
import re
import tempfile

import tensorflow as tf

from library import checkpoints, config_files, files
from library import config as config_lib
from library.checkpoints import current_step

FIRST_CONFIG = 'config.yaml'
STEP_CONFIG = re.compile(r'^config-step-(\d+)\.yaml$')

# Keys whose change makes the checkpoints mean something else: the network, its input and
# classes, the training data and procedure. Resuming with another value is another run.
IDENTITY_KEYS = frozenset([
    # what is trained
    'model', 'hub_module', 'conditional', 'num_classes', 'random_seed',
    # its input
    'train_files', 'image_size', 'channels', 'train_batch_size', 'shuffle_buffer', 'synthetic',
    'synthetic_examples', 'balance_classes', 'random_flip', 'color_jitter', 'crop_area_range',
    'crop_aspect_range', 'crop_max_attempts', 'resize_method', 'cache_image_size',
    # hyperparameters (hyperparameters.yaml)
    'learning_rate', 'optimizer', 'adam_beta1', 'adam_beta2', 'adam_epsilon', 'momentum',
    'lr_schedule', 'lr_decay_steps', 'lr_decay_rate', 'warmup_steps', 'gradient_clip_norm',
    'dropout_rate', 'l2_regularization', 'xentropy_label_smoothing', 'fine_tuning',
    'batch_norm_momentum', 'cnn_filters', 'resnet_depth', 'resnet_width', 'resnet_stem',
    'latent_dim', 'gan_filters', 'beta', 'reconstruction_loss', 'n_critic', 'gp_lambda',
    'generator_updates', 'gan_augment', 'auxiliary_classifier_weight', 'separate_classifier',
    'classifier_rejects_fakes', 'classifier_learning_rate', 'generator_learning_rate',
])

# Keys a resume may change: how long it runs, how it is evaluated and recorded, where the
# files are and how fast it runs. The checkpoints mean the same thing afterwards.
RESUMABLE_KEYS = frozenset([
    # where things are (values are compared, not the files they came from)
    'model_dir', 'best_model_dir', 'hyperparameter_file', 'hyperparameter_set',
    # run length and evaluation
    'train_epochs', 'epochs_between_evals', 'max_train_steps', 'max_eval_steps', 'eval_files',
    'eval_batch_size', 'eval_crop_fraction', 'best_metric', 'best_mode', 'keep_best_max',
    'early_stopping_patience', 'stop_threshold', 'top_k',
    # checkpoints, summaries, logging, inspection, export, samples
    'save_summary_steps', 'save_checkpoints_steps', 'save_checkpoints_secs',
    'keep_checkpoint_max', 'log_step_count_steps', 'visualize_layers', 'profile_steps',
    'export_hub_module', 'benchmark_batches', 'sample_grid_size', 'interpolation_steps',
    'interpolation_rows', 'sample_seed', 'max_pixels',
    # speed and placement
    'cache', 'prefetch_to_device', 'skip_corrupt', 'xla', 'intra_op_threads',
    'inter_op_threads', 'gpu_memory_growth', 'distribution', 'cpu_devices', 'mirrored_devices',
    'evaluator_task', 'evaluator_throttle_secs',
    # only read when a run starts without a checkpoint
    'warm_start_from', 'warm_start_vars',
])

# The file the hyperparameters came from: its values are compared, its path always differs.
NOT_COMPARED = frozenset(['hyperparameter_file'])


def step_config_name(step):
    return 'config-step-%d.yaml' % step


def latest_saved_config(model_dir):
    """Returns the file name of the config in effect at the latest checkpoint (None when none is saved)."""
    if not tf.io.gfile.isdir(model_dir):
        return None
    names = [name.rstrip('/') for name in tf.io.gfile.listdir(model_dir)]
    steps = [int(match.group(1)) for match in map(STEP_CONFIG.match, names) if match]
    if steps:
        return step_config_name(max(steps))
    return FIRST_CONFIG if FIRST_CONFIG in names else None


def read_saved_config(model_dir, name):
    """Returns the values of saved config `name` of `model_dir`, read with --config_file as a user would.

    The YAML files are copied to a local folder first, so model_dirs on gs:// or ram:// read alike.
    """
    with tempfile.TemporaryDirectory() as local:
        for path in tf.io.gfile.glob(files.join(model_dir, '*.yaml')):
            tf.io.gfile.copy(path, os.path.join(local, files.split(path)[1]), overwrite=True)
        try:
            return config_lib.parse(['--config_file', os.path.join(local, name)])[1]
        except config_lib.ConfigError as error:
            raise config_lib.ConfigError('%s: cannot read it to compare with this run (%s)' % (
                files.join(model_dir, name), str(error).replace(local, model_dir))) from None


def changed_keys(saved, config):
    """Returns the sorted keys whose values differ between `saved` and `config` (missing counts as differing)."""
    return sorted(key for key in (set(saved) | set(config)) - NOT_COMPARED
                  if saved.get(key) != config.get(key))


def is_identity_key(key):
    """Whether changing `key` changes what the checkpoints mean (keys not classified count as such)."""
    return key not in RESUMABLE_KEYS


def describe(value):
    return 'absent' if value is None else config_lib.yaml_scalar(value)


def check_resume(config, allow_change):
    """Raises ConfigError, one line per key, when resuming model_dir would change what its checkpoints mean.

    Reads only; nothing is written. With `allow_change` every difference is accepted. Returns
    whether this start's graph may differ from the checkpoint's (a checkpoint whose config is
    unknown, or accepted changes), which library/checkpoint_match.py then checks.
    """
    model_dir = config['model_dir']
    if not checkpoints.has_checkpoint(model_dir):
        return False
    name = latest_saved_config(model_dir)
    if name is None:
        return True
    saved = read_saved_config(model_dir, name)
    path = files.join(model_dir, name)
    lines = ['%s: %s in %s, %s now' % (key, describe(saved.get(key)), path, describe(config.get(key)))
             for key in changed_keys(saved, config) if is_identity_key(key)]
    if lines and not allow_change:
        raise config_lib.ConfigError(
            '%s holds checkpoints of another configuration; train in another model_dir, or pass '
            '--allow_config_change to resume it with this one (the earlier config is kept):\n%s' % (
                model_dir, '\n'.join(lines)))
    return bool(lines)


def files_to_save(config):
    """Returns {file name: text} to write into model_dir for this start of the run.

    A new run (no checkpoint) writes config.yaml. A resume writes nothing when the config is
    unchanged, else the config as config-step-N.yaml (N: the step it resumes from);
    config.yaml is never replaced once a checkpoint exists.
    """
    model_dir = config['model_dir']
    saved = config_files.saved_files(config)
    if not checkpoints.has_checkpoint(model_dir):
        return saved
    name = latest_saved_config(model_dir)
    if name is not None and not changed_keys(read_saved_config(model_dir, name), config):
        return {}
    return step_files(saved, current_step(model_dir))


def step_files(saved, step):
    """Renames the saved config.yaml to config-step-N.yaml (it is self-contained: nothing refers to it)."""
    return {step_config_name(step) if name == FIRST_CONFIG else name: text for name, text in saved.items()}


def forget_step_config(model_dir):
    """Deletes the `*-step-N.yaml` files of the current step N: the config that wrote them made no checkpoint."""
    suffix = '-step-%d.yaml' % current_step(model_dir)
    for path in tf.io.gfile.glob(files.join(model_dir, '*' + suffix)):
        files.remove(path)


def saved_config_path(model_dir):
    """Returns the path of the config in effect at model_dir's latest checkpoint (config.yaml when none is saved)."""
    return files.join(model_dir, latest_saved_config(model_dir) or FIRST_CONFIG)
