"""The tf.estimator.Estimator built from the merged config, and the checkpoint it uses."""
import math

import tensorflow as tf

from library import (
    banner,
    best_snapshot,
    checkpoint_match,
    checkpoints,
    file_systems,
    files,
    hooks,
    image_folders,
    memory,
    run_classes,
    run_config,
    run_identity,
    warm_start,
)
from library import config as config_lib


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


def make_params(config, model, trains=False, evaluates=False):
    """Returns the params given to model_fn: the config plus resolved dataset facts (`model`: its ModelSpec).

    The classes are the run's (library/run_classes.py): `trains` requires the
    training set to list them in the run's order, `evaluates` maps the evaluation
    set's labels onto them (params['eval_label_map']).
    """
    if config['train_batch_size'] < 1 or config['eval_batch_size'] < 1:
        raise config_lib.ConfigError('train_batch_size and eval_batch_size must be at least 1, '
                                     'got %d and %d' % (config['train_batch_size'],
                                                        config['eval_batch_size']))
    for key in ('train_batch_size', 'eval_batch_size'):
        memory.check_batch_fits(config[key], config['image_size'], config['channels'], key)
    file_systems.ensure_file_systems(config)
    info = image_folders.describe(config['train_files'])
    if info and config['balance_classes']:
        info = dict(info, count=image_folders.balanced_count(info))
    params = dict(config)
    params['num_classes'], params['class_names'] = run_classes.resolve(
        config, info, model.requires_classes, trains)
    params['eval_label_map'] = (run_classes.eval_label_map(config, params['class_names'])
                                if evaluates and model.requires_classes else None)
    params['steps_per_epoch'] = steps_per_epoch(config, info)
    params['total_train_steps'] = total_train_steps(config, params['steps_per_epoch'])
    params['eval_batches'] = evaluation_batches(config)
    return params


def save_run(config, params, model):
    """Writes the config that reproduces this run into model_dir (config.yaml, or config-step-N.yaml
    when a resume changed it; see library/run_identity.py), and a classifier's class list (classes.json)."""
    tf.io.gfile.makedirs(config['model_dir'])
    for name, text in run_identity.files_to_save(config).items():
        files.write_atomically(files.join(config['model_dir'], name), text)
    if model.requires_classes:
        run_classes.write(config['model_dir'], params['class_names'])


def remapped(labels, label_map):
    """Returns `labels` with each label l in [0, len(label_map)) replaced by label_map[l].

    Other values (-1, out of range) pass unchanged, so the model's own label checks name them.
    """
    table = tf.constant(label_map, dtype=labels.dtype)
    inside = tf.logical_and(labels >= 0, labels < len(label_map))
    return tf.where(inside, tf.gather(table, tf.clip_by_value(labels, 0, len(label_map) - 1)), labels)


def with_eval_label_map(model_fn):
    """Wraps `model_fn` so EVAL labels follow the run's classes (params['eval_label_map'], when set)."""

    def model_fn_with_label_map(features, labels, mode, params):
        label_map = params.get('eval_label_map')
        if mode == tf.estimator.ModeKeys.EVAL and label_map and labels is not None:
            labels = remapped(labels, label_map)
        return model_fn(features, labels, mode, params)
    return model_fn_with_label_map


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


def make_estimator(config, recipe, save=False, trains=False, evaluates=False, announce=False):
    """Returns (estimator, params) for `config` and `recipe` (see make_params for `trains`, `evaluates`).

    When it `trains`, model_dir's latest checkpoint must fit the model; with
    save=True the run's config and class list are then saved; announce=True
    prints the banner of a training run.
    """
    params = make_params(config, recipe.model, trains, evaluates)
    if trains:
        check_checkpoint(tf.train.latest_checkpoint(config['model_dir']), recipe, params)
    if save:
        save_run(config, params, recipe.model)
    estimator = tf.estimator.Estimator(
        model_fn=with_progress(with_eval_label_map(recipe.model_fn)),
        config=run_config.make_run_config(config),
        params=params,
        warm_start_from=warm_start.warm_start_settings(config))
    if announce:
        banner.show(estimator.config, config)
    return estimator, params


def resolve_checkpoint(choice, config):
    """Returns the checkpoint prefix for --checkpoint latest, best, a prefix or a folder; one that restores."""
    label = '--checkpoint %s' % choice
    if choice == 'best':
        checkpoint = best_snapshot.best_checkpoint(run_config.best_model_dir(config),
                                                   config['model_dir'])[0]
        return checkpoints.require_restorable(checkpoint, label)
    if choice == 'latest':
        checkpoint = checkpoints.usable_checkpoint(config['model_dir'])
        if checkpoint is None:
            raise config_lib.ConfigError('--checkpoint latest: no checkpoint in model_dir %s; '
                                         'train first' % config['model_dir'])
        return checkpoint
    if tf.io.gfile.exists(choice + '.index'):  # before isdir: ram:// takes a file name's prefix for a folder
        return checkpoints.require_restorable(choice, label)
    if tf.io.gfile.isdir(choice):
        checkpoint = checkpoints.usable_checkpoint(choice)
        if checkpoint is None:
            raise config_lib.ConfigError('--checkpoint %s: folder holds no checkpoint' % choice)
        return checkpoint
    raise config_lib.ConfigError('--checkpoint %s: expected latest, best, a checkpoint '
                                 'prefix (with a .index file) or a folder' % choice)


def shape_text(shape):
    return '[%s]' % ', '.join(str(size) for size in shape)


def check_checkpoint(checkpoint, recipe, params):
    """Refuses a classifier checkpoint whose variables do not have the shapes this run's model
    (num_classes and the other settings) builds, before anything restores or writes."""
    if checkpoint is None or not recipe.model.requires_classes:
        return
    stored = checkpoint_match.saved_shapes(checkpoint)
    model = checkpoint_match.graph_variables(recipe, params, tf.estimator.ModeKeys.PREDICT)
    for name, shape in sorted(model.items()):
        if name in stored and list(stored[name]) != shape:
            raise config_lib.ConfigError(
                'checkpoint %s does not fit the model for %d classes %s: its variable %s has shape '
                '%s, the model needs %s; use the checkpoint\'s own class list and settings (or a '
                'new model_dir)' % (checkpoint, params['num_classes'],
                                    run_classes.listed(params['class_names']), name,
                                    shape_text(stored[name]), shape_text(shape)))


def fitting_checkpoint(choice, config, recipe, params):
    """Returns the checkpoint of --checkpoint `choice` (see resolve_checkpoint) once it fits the model."""
    checkpoint = resolve_checkpoint(choice, config)
    check_checkpoint(checkpoint, recipe, params)
    return checkpoint
