"""The tf.estimator.Estimator built from the merged config, and the checkpoint it uses."""
import math

import tensorflow as tf

from library import best_snapshot
from library import files
from library import config as config_lib
from library import file_systems
from library import hooks
from library import image_folders
from library import run_config
from library import run_identity
from library import warm_start


def resolve_classes(config, info, requires_classes):
    """Returns (num_classes, class_names) from the training set's description `info` or num_classes.

    A model that does not require classes (generative models) may run without
    either; its num_classes is then None.
    """
    names = [str(name) for name in info.get('classes') or []] if info else []
    configured = config['num_classes']
    if names and configured is not None and configured != len(names):
        raise config_lib.ConfigError(
            'num_classes is %d but the dataset description next to train_files %s lists %d '
            'classes (%s); set num_classes to null or to %d' % (
                configured, config['train_files'], len(names), ', '.join(names), len(names)))
    if names:
        return len(names), names
    if configured is not None:
        if configured < 1:
            raise config_lib.ConfigError('num_classes must be at least 1, got %d' % configured)
        return configured, [str(index) for index in range(configured)]
    if requires_classes:
        raise config_lib.ConfigError(
            'num_classes is null and no dataset description (<name>.json with classes) lies '
            'next to train_files %s; convert the data with convert_dataset.py or set '
            'num_classes' % config['train_files'])
    return None, []


def steps_per_epoch(config, info):
    """Returns training steps per epoch (the remainder batch is dropped), or None if unknown."""
    if not info or info.get('count') is None:
        return None
    steps = int(info['count']) // config['train_batch_size']
    if steps < 1:
        raise config_lib.ConfigError(
            'train_batch_size %d is larger than the %d training examples in %s' % (
                config['train_batch_size'], info['count'], config['train_files']))
    return steps


def total_train_steps(config, epoch_steps):
    """Returns the global step at which training ends (train_epochs, capped by max_train_steps)."""
    totals = [config['max_train_steps']]
    if epoch_steps is not None:
        totals.append(config['train_epochs'] * epoch_steps)
    totals = [total for total in totals if total is not None]
    return min(totals) if totals else None


def evaluation_batches(config):
    """Returns the batches of one evaluation (max_eval_steps caps it), or None when the set's size is unknown."""
    try:
        info = image_folders.describe(config['eval_files']) if config['eval_files'] else None
    except config_lib.ConfigError:
        info = None  # the evaluation itself reports what is wrong with eval_files, if it runs
    batches = None
    if info and info.get('count') is not None:
        batches = math.ceil(int(info['count']) / config['eval_batch_size'])
    if config['max_eval_steps'] is not None:
        batches = min(batches or config['max_eval_steps'], config['max_eval_steps'])
    return batches


def make_params(config, model):
    """Returns the params given to model_fn: the config plus resolved dataset facts (`model`: its ModelSpec)."""
    if config['train_batch_size'] < 1 or config['eval_batch_size'] < 1:
        raise config_lib.ConfigError('train_batch_size and eval_batch_size must be at least 1, '
                                     'got %d and %d' % (config['train_batch_size'],
                                                        config['eval_batch_size']))
    file_systems.ensure_file_systems(config)
    info = image_folders.describe(config['train_files'])
    if info and config['balance_classes']:
        info = dict(info, count=image_folders.balanced_count(info))
    params = dict(config)
    params['num_classes'], params['class_names'] = resolve_classes(config, info, model.requires_classes)
    params['steps_per_epoch'] = steps_per_epoch(config, info)
    params['total_train_steps'] = total_train_steps(config, params['steps_per_epoch'])
    params['eval_batches'] = evaluation_batches(config)
    return params


def save_config(config):
    """Writes the config files that reproduce this run into model_dir (config.yaml, or
    config-step-N.yaml when a resume changed it; see library/run_identity.py)."""
    tf.io.gfile.makedirs(config['model_dir'])
    for name, text in run_identity.files_to_save(config).items():
        files.write_atomically(files.join(config['model_dir'], name), text)


def with_progress(model_fn):
    """Wraps `model_fn` so TRAIN specs also print progress lines from their own loss, and long
    evaluations print batches done and an ETA."""

    def model_fn_with_progress(features, labels, mode, params):
        spec = model_fn(features, labels, mode, params)
        if mode == tf.estimator.ModeKeys.EVAL:
            progress = hooks.EvaluationProgressHook(params.get('eval_batches'))
            return spec._replace(evaluation_hooks=tuple(spec.evaluation_hooks) + (progress,))
        if mode != tf.estimator.ModeKeys.TRAIN:
            return spec
        progress = hooks.ProgressHook(
            spec.loss, batch_size=params['train_batch_size'],
            total_steps=params['total_train_steps'],
            every_n_steps=params['log_step_count_steps'])
        return spec._replace(training_hooks=tuple(spec.training_hooks) + (progress,))
    return model_fn_with_progress


def make_estimator(config, recipe, save=False):
    """Returns (estimator, params) for `config` and `recipe`; with save=True also saves the config."""
    params = make_params(config, recipe.model)
    if save:
        save_config(config)
    estimator = tf.estimator.Estimator(
        model_fn=with_progress(recipe.model_fn),
        config=run_config.make_run_config(config),
        params=params,
        warm_start_from=warm_start.warm_start_settings(config))
    return estimator, params


def resolve_checkpoint(choice, config):
    """Returns the checkpoint prefix for --checkpoint latest, best, a prefix or a folder."""
    if choice == 'best':
        return best_snapshot.best_checkpoint(run_config.best_model_dir(config))[0]
    if choice == 'latest':
        checkpoint = tf.train.latest_checkpoint(config['model_dir'])
        if checkpoint is None:
            raise config_lib.ConfigError('--checkpoint latest: no checkpoint in model_dir %s; '
                                         'train first' % config['model_dir'])
        return checkpoint
    if tf.io.gfile.exists(choice + '.index'):  # before isdir: ram:// takes a file name's prefix for a folder
        return choice
    if tf.io.gfile.isdir(choice):
        checkpoint = tf.train.latest_checkpoint(choice)
        if checkpoint is None:
            raise config_lib.ConfigError('--checkpoint %s: folder holds no checkpoint' % choice)
        return checkpoint
    raise config_lib.ConfigError('--checkpoint %s: expected latest, best, a checkpoint '
                                 'prefix (with a .index file) or a folder' % choice)
