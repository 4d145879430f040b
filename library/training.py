"""The run loop: train, evaluate, snapshot the best checkpoint, stop early; also train or evaluate alone.

Training resumes from the global step of the latest checkpoint in model_dir, so a rerun of
the same command does not redo finished epochs. Evaluations happen every
epochs_between_evals epochs (counted in global steps: steps per epoch = examples in the
training set's <name>.json // train_batch_size).

best_metric is checked before training starts: the model's EVAL graph is built once in a
throwaway graph (no variables are restored, nothing is run) and its metric names are
compared with best_metric, so a typo fails in seconds rather than after the first epoch.
"""
import contextlib
import errno
import functools
import math
import os
import re
import sys

import tensorflow as tf

from library import (
    best_snapshot,
    checkpoint_match,
    checkpoints,
    distribution,
    eval_events,
    files,
    hooks,
    profiling,
    run_config,
    run_identity,
    run_lock,
    run_record,
    stop_signals,
)
from library import config as config_lib
from library import estimator as estimator_lib
from library.data import diagnose


def evaluation_metric_names(recipe, params):
    """Returns the names of the metrics an evaluation of this model reports."""
    with tf.Graph().as_default():
        spec = checkpoint_match.model_spec_in_graph(recipe, params, tf.estimator.ModeKeys.EVAL)
    return sorted(set(spec.eval_metric_ops or {}) | {'loss', 'global_step'})


def make_snapshot(config, params, recipe):
    """Returns the BestSnapshot for this run, or None when best_metric is null."""
    if not config['best_metric']:
        return None
    names = evaluation_metric_names(recipe, params)
    if config['best_metric'] not in names:
        raise config_lib.ConfigError(
            'best_metric %r is not produced by the evaluation of model %s; metrics: %s' % (
                config['best_metric'], config['model'], ', '.join(names)))
    return best_snapshot.BestSnapshot(run_config.best_model_dir(config), config['best_metric'],
                                      config['best_mode'], config['keep_best_max'],
                                      model_dir=config['model_dir'])


def format_metrics(metrics):
    """Returns 'name value' pairs of the scalar metrics, global_step first."""
    parts = []
    for name in sorted(metrics, key=lambda key: (key != 'global_step', key)):
        value = metrics[name]
        if getattr(value, 'size', 1) != 1:
            continue
        parts.append('%s %d' % (name, value) if name == 'global_step' else '%s %.4f' % (
            name, float(value)))
    return '  '.join(parts)


def say(text):
    """Prints one line to stdout at once (progress must not wait in a buffer)."""
    sys.stdout.write(text + '\n')
    sys.stdout.flush()


def train_until(estimator, input_fn, params, start_step, target_step):
    """Trains from `start_step` to global step `target_step` (whole epochs of input).

    When the input ends before `target_step` (records skipped with skip_corrupt
    make an epoch shorter than its counted steps), training reads it again.
    """
    epoch_steps = params['steps_per_epoch']
    step = start_step
    while step < target_step:
        epochs = math.ceil((target_step - step) / epoch_steps) if epoch_steps else None
        estimator.train(functools.partial(input_fn, epochs=epochs),
                        max_steps=target_step, hooks=profiling.profiler_hooks(params))
        reached = checkpoints.current_step(estimator.model_dir)
        if reached <= step:
            raise RuntimeError('training made no progress from step %d: the training input (%s) '
                               'ended at once' % (step, params['train_files']))
        step = reached
    return step


def evaluate_checkpoint(estimator, input_fn, params, checkpoint, name=None):
    """Evaluates `checkpoint` on eval_files (at most max_eval_steps batches)."""
    return estimator.evaluate(input_fn, steps=params['max_eval_steps'],
                              checkpoint_path=checkpoint, name=name)


def reached_threshold(value, config):
    """Whether `value` of best_metric reached stop_threshold in the direction of best_mode."""
    threshold = config['stop_threshold']
    if threshold is None or not best_snapshot.is_finite_number(value):
        return False
    return value <= threshold if config['best_mode'] == 'min' else value >= threshold


def evaluations_since_best(snapshot, step, interval):
    """Evaluations already done without improvement since the recorded best (after a restart)."""
    if snapshot is None or snapshot.record is None or not interval:
        return 0
    return max(0, step - snapshot.record['global_step']) // interval


def diverged_message(error):
    """Returns the 'Model diverged with loss = ...' text of a NaN-loss failure, else None.

    The model's finite-loss assertion fails the step with that text (an
    InvalidArgumentError); Estimator's NanTensorHook raises NanLossDuringTrainingError.
    """
    if isinstance(error, tf.estimator.NanLossDuringTrainingError):
        return str(error).rstrip('.') or 'the loss became NaN'
    match = re.search(r'Model diverged with loss = [^\]\n]*', getattr(error, 'message', ''))
    return match.group(0).strip() if match else None


def report_diverged(message, model_dir):
    """Prints why training stopped on a NaN loss; returns exit code 1."""
    say('training stopped: %s. The last good checkpoint is step %d in %s and the best '
        'snapshot is unchanged; lower learning_rate or set gradient_clip_norm.' % (
            message, checkpoints.current_step(model_dir), model_dir))
    return 1


WRITE_FAILURES = tuple(os.strerror(code) for code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT))


def is_input_failure(error):
    """Whether `error` came out of the input pipeline (an iterator's next element)."""
    text = getattr(error, 'message', '')
    return isinstance(error, tf.errors.DataLossError) or 'IteratorGetNext' in text or 'input_fn: ' in text


def input_failure_message(error, params):
    """Returns the one line that names the record behind an input failure, or None."""
    named = re.search(r'input_fn: (?!bad label)[^\]\n]*', getattr(error, 'message', ''))
    if named:
        return named.group(0).strip()
    say('the input pipeline failed; examining %s to find the record' % ' and '.join(
        params[key] for key in diagnose.INPUT_KEYS if params.get(key)))
    return diagnose.input_problem(params)


def report_stop(error, params):
    """Turns an error that stopped training into one line: exit code 1 for a NaN loss or a failed
    write (disk full, file too large, quota), ConfigError naming the record for an input failure;
    re-raises anything else."""
    model_dir = params['model_dir']
    message = diverged_message(error)
    if message is not None:
        return report_diverged(message, model_dir)
    text = getattr(error, 'message', '')
    if is_input_failure(error):
        problem = input_failure_message(error, params)
        if problem:
            raise config_lib.ConfigError(problem) from None
    failed_writes = [line.strip() for line in text.splitlines()
                     if any(failure in line for failure in WRITE_FAILURES)]
    if not failed_writes:
        raise error
    sys.stderr.write('run.py: error: %s. The last complete checkpoint is step %d in %s and the '
                     'best snapshot is unchanged; free space and rerun the same command to '
                     'resume.\n' % (failed_writes[0], checkpoints.current_step(model_dir), model_dir))
    return 1


def report_final(metrics, snapshot, config):
    """Prints the final metrics, the best snapshot and where the event files are."""
    say('final evaluation: %s' % format_metrics(metrics))
    if snapshot is not None:
        say('best snapshot: %s' % snapshot.describe())
    say('event files: %s (training) and %s (evaluation); view with: tensorboard --logdir %s' % (
        config['model_dir'], files.join(config['model_dir'], 'eval'),
        config['model_dir']))


def total_train_steps(params, config):
    """Returns the steps to train in all; a ConfigError when the training set size is unknown."""
    total = params['total_train_steps']
    if total is None:
        raise config_lib.ConfigError(
            'the number of training examples is unknown (no <name>.json next to train_files '
            '%s): set max_train_steps' % config['train_files'])
    return total


def remove_checkpoint_leftovers(model_dir):
    """Deletes the `<prefix>_temp` files a checkpoint write killed midway leaves (never read)."""
    for leftover in tf.io.gfile.glob(files.join(model_dir, 'model.ckpt-*_temp*')):
        files.remove(leftover)


def report_signal(stop, model_dir, doing=None):
    """Prints the one line of a run stopped by SIGTERM or SIGINT; returns its exit code (143, 130)."""
    checkpoint = tf.train.latest_checkpoint(model_dir)
    saved = checkpoints.current_step(model_dir)
    reached = hooks.ProgressHook.reached
    where = doing or 'at step %d' % max(saved, reached or 0)
    sys.stderr.write('run.py: stopped by %s %s; the last checkpoint is %s; rerun the same '
                     'command to resume\n' % (stop.name, where, 'step %d (%s)' % (
                         saved, checkpoint) if checkpoint else 'none yet'))
    return stop.exit_code


def run_training(config, recipe, loop, evaluate, allow_config_change=False):
    """Runs this process's cluster task under TF_CONFIG, else `loop(config, recipe)` holding the run lock.

    A resume whose config changes what the checkpoints mean stops first (library/run_identity.py),
    and one whose checkpoint does not fit the graph stops with one line (library/checkpoint_match.py).
    """
    if run_identity.check_resume(config, allow_config_change):
        checkpoint_match.check(recipe, estimator_lib.make_params(config, recipe.model))
    with checkpoint_match.restore_failures_reported(config['model_dir'], forget_config=True):
        if distribution.cluster_task() is not None:
            return run_cluster_task(config, recipe, evaluate=evaluate)
        try:
            with run_lock.RunLock(config['model_dir']):
                remove_checkpoint_leftovers(config['model_dir'])
                checkpoints.repair(config['model_dir'])
                return loop(config, recipe)
        except stop_signals.Stopped as stop:
            return report_signal(stop, config['model_dir'])


def train_and_evaluate(args, config, recipe):
    """Trains epochs_between_evals epochs at a time, evaluating and snapshotting after each."""
    return run_training(config, recipe, train_evaluate_loop, evaluate=True,
                        allow_config_change=args.allow_config_change)


def train_evaluate_loop(config, recipe):
    """The body of train_and_evaluate, run while holding model_dir's run lock."""
    estimator, params = estimator_lib.make_estimator(config, recipe, trains=True, evaluates=True,
                                                     announce=True)
    snapshot = make_snapshot(config, params, recipe)
    total = total_train_steps(params, config)
    epoch_steps = params['steps_per_epoch']
    interval = config['epochs_between_evals'] * epoch_steps if epoch_steps else total
    if interval < 1:
        raise config_lib.ConfigError('epochs_between_evals must be at least 1, got %d' %
                                     config['epochs_between_evals'])
    step = checkpoints.current_step(config['model_dir'])
    if step:
        say('resuming from global step %d of %d in %s' % (step, total, config['model_dir']))
    without_improvement = evaluations_since_best(snapshot, step, interval)
    metrics, stopped = None, False
    try:
        estimator_lib.save_run(config, params, recipe.model)
        if lacks_evaluation(estimator, step, interval, total):
            say('evaluating the checkpoint of step %d first: its evaluation never finished' % step)
            metrics, improved = evaluate_and_snapshot(estimator, recipe.input_fn, params, snapshot)
            without_improvement = 0 if improved else without_improvement
            stopped = stop_early(metrics, without_improvement, config)
        while step < total and not stopped:
            step = train_until(estimator, recipe.input_fn, params, step,
                               min((step // interval + 1) * interval, total))
            metrics, improved = evaluate_and_snapshot(estimator, recipe.input_fn, params, snapshot)
            without_improvement = 0 if improved else without_improvement + 1
            stopped = stop_early(metrics, without_improvement, config)
    except (tf.estimator.NanLossDuringTrainingError, tf.errors.OpError) as error:
        return report_stop(error, params)
    if metrics is None:
        say('training already finished at step %d; evaluating the latest checkpoint' % step)
        metrics, _ = evaluate_and_snapshot(estimator, recipe.input_fn, params, snapshot)
    report_final(metrics, snapshot, config)
    return 0


def lacks_evaluation(estimator, step, interval, total):
    """Whether `step` is an evaluation point (a multiple of `interval`, or `total`) not yet evaluated."""
    if step < 1 or (step % interval and step != total):
        return False
    return step not in eval_events.evaluated_steps(estimator.eval_dir())


def evaluate_and_snapshot(estimator, input_fn, params, snapshot):
    """Evaluates the latest checkpoint, offers it to the best snapshot and records it in metrics.jsonl;
    returns (metrics, improved)."""
    checkpoint = estimator.latest_checkpoint()
    metrics = evaluate_checkpoint(estimator, input_fn, params, checkpoint)
    return metrics, offer_and_record(snapshot, params, metrics, checkpoint)


def offer_and_record(snapshot, params, metrics, checkpoint):
    """Offers `checkpoint` to `snapshot` and appends the evaluation to metrics.jsonl; returns whether
    it became the best."""
    improved = offer_to_snapshot(snapshot, metrics, checkpoint)
    run_record.record_evaluation(params, metrics, improved)
    return improved


def offer_to_snapshot(snapshot, metrics, checkpoint):
    """Prints `metrics` and offers `checkpoint` to `snapshot` (may be None); returns whether it improved."""
    say('evaluation: %s' % format_metrics(metrics))
    if snapshot is None:
        return False
    improved = snapshot.update(metrics, checkpoint)
    value = metrics[snapshot.metric]
    if improved:
        say('new best snapshot: %s' % snapshot.describe())
    elif not best_snapshot.is_finite_number(value):
        say('best snapshot unchanged: %s is %s at step %d, which never counts as best' % (
            snapshot.metric, value, metrics['global_step']))
    else:
        say('best snapshot unchanged: %s' % snapshot.describe())
    return improved


def stop_early(metrics, without_improvement, config):
    """Whether early_stopping_patience or stop_threshold ends training now."""
    patience = config['early_stopping_patience']
    if patience and without_improvement >= patience:
        say('early stopping: %d evaluations without improvement of %s' % (
            without_improvement, config['best_metric']))
        return True
    if config['best_metric'] and reached_threshold(metrics[config['best_metric']], config):
        say('stopping: %s reached stop_threshold %g' % (config['best_metric'],
                                                        config['stop_threshold']))
        return True
    return False


def run_cluster_task(config, recipe, evaluate):
    """Runs this process's task of the TF_CONFIG cluster (see library/distribution.py).

    Only the chief holds model_dir's run lock and saves the config; only the task that
    distribution.keeps_best_snapshot names evaluates for the best snapshot.
    """
    distribution.refuse_early_stopping(config)
    chief = distribution.is_chief()
    with run_lock.RunLock(config['model_dir']) if chief else contextlib.nullcontext():
        estimator, params = estimator_lib.make_estimator(config, recipe, save=chief, trains=True,
                                                         evaluates=evaluate, announce=True)
        on_evaluation = None
        if evaluate and distribution.keeps_best_snapshot(config):
            on_evaluation = functools.partial(offer_and_record, make_snapshot(config, params, recipe), params)
        return distribution.run_cluster_task(estimator, params, recipe.input_fn, on_evaluation)


def train(args, config, recipe):
    """Trains up to train_epochs (or max_train_steps) without evaluating."""
    return run_training(config, recipe, train_loop, evaluate=False,
                        allow_config_change=args.allow_config_change)


def train_loop(config, recipe):
    """The body of train, run while holding model_dir's run lock."""
    estimator, params = estimator_lib.make_estimator(config, recipe, trains=True, announce=True)
    total = total_train_steps(params, config)
    step = checkpoints.current_step(config['model_dir'])
    if step >= total:
        say('training already finished at step %d of %d in %s' % (step, total,
                                                                   config['model_dir']))
        return 0
    try:
        estimator_lib.save_run(config, params, recipe.model)
        step = train_until(estimator, recipe.input_fn, params, step, total)
    except (tf.estimator.NanLossDuringTrainingError, tf.errors.OpError) as error:
        return report_stop(error, params)
    say('trained to step %d; checkpoints and event files in %s' % (step, config['model_dir']))
    return 0


def evaluate(args, config, recipe):
    """Evaluates --checkpoint latest, best or PATH and prints the metrics."""
    estimator, params = estimator_lib.make_estimator(config, recipe, evaluates=True)
    checkpoint = estimator_lib.fitting_checkpoint(args.checkpoint, config, recipe, params)
    name = 'best' if args.checkpoint == 'best' else None
    try:
        with stop_signals.raised_as_stopped(), checkpoint_match.restore_failures_reported(config['model_dir']):
            metrics = evaluate_checkpoint(estimator, recipe.input_fn, params, checkpoint, name=name)
    except tf.errors.OpError as error:
        return report_stop(error, params)
    except stop_signals.Stopped as stop:
        return report_signal(stop, config['model_dir'], 'during the evaluation of %s' % checkpoint)
    say('evaluation of %s: %s' % (checkpoint, format_metrics(metrics)))
    if args.checkpoint == 'best':
        record = best_snapshot.read_record(run_config.best_model_dir(config))
        say('recorded in best.json: %s %.6g at step %d' % (
            record['metric'], record['value'], record['global_step']))
    return 0
