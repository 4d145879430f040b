"""Distribution strategies from the config, and the training of one task of a TF_CONFIG cluster.

`distribution` (see docs/distributed.md):
    none              one device
    auto              parameter_server when TF_CONFIG lists ps tasks, multi_worker when it lists
                      several training tasks, mirrored when more than one GPU is visible, else none
    mirrored          synchronous, one machine: tf.distribute.MirroredStrategy over
                      `mirrored_devices` (default every GPU, else every logical CPU of `cpu_devices`)
    multi_worker      synchronous, several machines: MultiWorkerMirroredStrategy from TF_CONFIG
    parameter_server  asynchronous: the Estimator's between-graph replication from TF_CONFIG

Batch sizes: train_batch_size is GLOBAL. The synchronous strategies split it evenly across all
replicas (the input_fn asks its input_context for the per-replica size), so a step sees the
same examples as on one device and the learning rate stays as it is. Evaluation runs on one
device, in batches of eval_batch_size, so every example counts exactly once. Parameter-server
workers each apply their own update of train_batch_size examples, so the learning rate also
stays; global_step counts the updates of all workers together. When you grow train_batch_size
k times to keep every replica busy, multiply learning_rate by k (the linear scaling rule) and
add warmup_steps.
"""
import functools
import json
import os
import signal
import sys
import threading

import tensorflow as tf

from library.config import ConfigError

TF_CONFIG = 'TF_CONFIG'
TRAINING_TASKS = ('chief', 'worker')
LAUNCH_HINT = 'python -m library.launch --workers N [--ps M] -- run.py ...'


def tf_config():
    """Returns the parsed TF_CONFIG environment variable ({} when unset)."""
    text = os.environ.get(TF_CONFIG, '').strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ConfigError('TF_CONFIG is not valid JSON (%s): %.200s' % (error, text)) from None
    if not isinstance(value, dict):
        raise ConfigError('TF_CONFIG must be a JSON object with "cluster" and "task", got %.200s'
                          % text)
    return value


def cluster_task():
    """Returns (task type, task index) when TF_CONFIG describes a cluster, else None."""
    settings = tf_config()
    if not settings.get('cluster'):
        return None
    task = settings.get('task') or {}
    if 'type' not in task:
        raise ConfigError('TF_CONFIG has a cluster but no task {"type": ..., "index": ...}')
    return task['type'], int(task.get('index', 0))


def training_task_count(cluster):
    return sum(len(cluster.get(task_type) or []) for task_type in TRAINING_TASKS)


def is_chief():
    """Whether this process writes what a run writes once: config copy, exports (no cluster: yes)."""
    task = cluster_task()
    return task is None or task[0] == 'chief'


def keeps_best_snapshot(config):
    """Whether this process evaluates and keeps the best snapshot (exactly one task of a cluster)."""
    task = cluster_task()
    if task is None:
        return True
    if config['evaluator_task']:
        return task[0] == 'evaluator'
    return task[0] == 'chief'


def configure_cpu_devices(count):
    """Splits the CPU into `count` logical devices; must run before TensorFlow runs anything."""
    if count <= 1:
        return
    cpu = tf.config.list_physical_devices('CPU')[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    except RuntimeError:
        present = len(tf.config.list_logical_devices('CPU'))
        if present != count:
            raise ConfigError(
                'cpu_devices %d: TensorFlow already runs with %d CPU device(s) in this process; '
                'cpu_devices takes effect only before the first TensorFlow operation' % (
                    count, present)) from None


def resolve_distribution(config):
    """Returns none, mirrored, multi_worker or parameter_server for `config` and TF_CONFIG."""
    name = config['distribution']
    cluster = tf_config().get('cluster') or {}
    trainers = training_task_count(cluster)
    has_ps = bool(cluster.get('ps'))
    if name == 'auto':
        if has_ps:
            name = 'parameter_server'
        elif trainers > 1:
            name = 'multi_worker'
        elif len(tf.config.list_physical_devices('GPU')) > 1:
            name = 'mirrored'
        else:
            name = 'none'
    if name in ('none', 'mirrored') and (trainers > 1 or has_ps):
        raise ConfigError(
            'distribution is %s but TF_CONFIG describes a cluster of %d training task(s)%s; set '
            'distribution to multi_worker, parameter_server or auto' % (
                name, trainers, ' and ps tasks' if has_ps else ''))
    if name == 'multi_worker' and has_ps:
        raise ConfigError('distribution multi_worker uses no ps tasks, but TF_CONFIG lists %d; '
                          'set distribution to parameter_server' % len(cluster['ps']))
    if name == 'parameter_server' and not has_ps:
        raise ConfigError('distribution parameter_server needs TF_CONFIG with ps tasks; start a '
                          'local cluster with %s' % LAUNCH_HINT)
    if config['mirrored_devices'] and name != 'mirrored':
        raise ConfigError('mirrored_devices %s is set but distribution is %s; it applies to '
                          'mirrored only' % (config['mirrored_devices'], name))
    return name


def default_mirrored_devices():
    """Returns every GPU, or every logical CPU when there is none."""
    gpus = tf.config.list_logical_devices('GPU')
    return [device.name for device in gpus or tf.config.list_logical_devices('CPU')]


def mirrored_strategy(devices):
    """Returns MirroredStrategy over `devices`, reducing on one device when CPUs take part.

    Its default all-reduce hangs inside an Estimator when the replicas are CPU devices.
    """
    on_cpu = any('CPU' in tf.DeviceSpec.from_string(device).device_type.upper()
                 for device in devices)
    cross_device_ops = tf.distribute.ReductionToOneDevice() if on_cpu else None
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=cross_device_ops)


def check_train_batch_size(config, replicas):
    """Raises ConfigError unless the global train_batch_size splits evenly across `replicas`."""
    if config['train_batch_size'] % replicas:
        raise ConfigError(
            'train_batch_size %d is the global batch and must split evenly across the %d '
            'replicas of distribution %s; use a multiple of %d' % (
                config['train_batch_size'], replicas, config['distribution'], replicas))


def make_strategies(config):
    """Returns (train_distribute, eval_distribute) for tf.estimator.RunConfig.

    Applies cpu_devices first. Evaluation always runs on one device: a mirrored evaluation
    leaves out the examples of a final batch too small to reach every replica. The evaluator
    task and parameter-server runs use no strategy: the Estimator itself places
    parameter-server variables from TF_CONFIG.
    """
    configure_cpu_devices(config['cpu_devices'])
    task = cluster_task()
    if task and task[0] == 'evaluator':
        return None, None
    name = resolve_distribution(config)
    if name in ('none', 'parameter_server'):
        return None, None
    if name == 'mirrored':
        devices = [str(device) for device in config['mirrored_devices']] or (
            default_mirrored_devices())
        try:
            strategy = mirrored_strategy(devices)
        except ValueError as error:
            raise ConfigError('mirrored_devices %s: %s' % (devices, error)) from None
    else:
        strategy = tf.compat.v1.distribute.experimental.MultiWorkerMirroredStrategy()
    check_train_batch_size(config, strategy.num_replicas_in_sync)
    return strategy, None


def device_filters(config):
    """Returns the session device filters of a parameter-server task, or None.

    Each trainer talks to the ps tasks and itself only, so a session never waits for
    another worker (or the evaluator).
    """
    task = cluster_task()
    if task is None or task[0] not in TRAINING_TASKS + ('ps',):
        return None
    if resolve_distribution(config) != 'parameter_server':
        return None
    task_type, index = task
    if task_type == 'chief':
        return ['/job:ps', '/job:chief']
    if task_type == 'worker':
        return ['/job:ps', '/job:worker/task:%d' % index]
    return ['/job:ps', '/job:worker', '/job:chief']


def parameter_server_input_context():
    """Returns the InputContext of this trainer: its share of the files, a whole batch per step."""
    cluster = tf_config()['cluster']
    task_type, index = cluster_task()
    pipeline = index if task_type == 'chief' else len(cluster.get('chief') or []) + index
    return tf.distribute.InputContext(num_input_pipelines=training_task_count(cluster),
                                      input_pipeline_id=pipeline, num_replicas_in_sync=1)


def serve_parameters(run_config):
    """Runs this ps task's server until SIGTERM or SIGINT, then returns 0."""
    server = tf.distribute.Server(run_config.cluster_spec, job_name='ps',
                                  task_index=run_config.task_id,
                                  protocol=run_config.protocol or 'grpc',
                                  config=run_config.session_config, start=True)
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    sys.stdout.write('ps task %d serving variables at %s until it is stopped\n' % (
        run_config.task_id, server.target))
    sys.stdout.flush()
    while not stop.wait(1.0):
        pass
    sys.stdout.write('ps task %d stopped\n' % run_config.task_id)
    sys.stdout.flush()
    return 0


def remove_worker_scratch(model_dir, task_type, index):
    """Deletes the tmp_<type>_<index> folder a multi_worker non-chief saved its throwaway copies in.

    Every MultiWorkerMirrored task must run the save ops; only the chief's land in model_dir.
    """
    scratch = model_dir.rstrip('/') + '/tmp_%s_%d' % (task_type, index)
    if tf.io.gfile.isdir(scratch):
        tf.io.gfile.rmtree(scratch)


class _EvaluationListener(tf.estimator.Exporter):
    """Hands every evaluation of the evaluator task to `on_evaluation(metrics, checkpoint)`."""

    def __init__(self, on_evaluation):
        self.on_evaluation = on_evaluation

    @property
    def name(self):
        return 'evaluation_listener'

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        self.on_evaluation(eval_result, checkpoint_path)


def refuse_early_stopping(config):
    """Raises ConfigError when early stopping is set: a cluster run has no way to stop every task early.

    tf.estimator.train_and_evaluate trains each task to max_steps; the evaluator's verdict
    never reaches the chief and the workers.
    """
    if config['early_stopping_patience'] or config['stop_threshold'] is not None:
        raise ConfigError(
            'early_stopping_patience %d and stop_threshold %s: early stopping is not available in '
            'a TF_CONFIG cluster run (every task trains to train_epochs or max_train_steps); set '
            'early_stopping_patience 0 and stop_threshold null' % (
                config['early_stopping_patience'], 'null' if config['stop_threshold'] is None
                else config['stop_threshold']))


def run_cluster_task(estimator, params, input_fn, on_evaluation=None):
    """Runs this process's TF_CONFIG task with tf.estimator.train_and_evaluate; returns 0.

    The chief and workers train to params['total_train_steps']; a ps task serves variables
    until stopped; the evaluator evaluates every new checkpoint and hands it to
    `on_evaluation(metrics, checkpoint)`. Without an evaluator task (evaluator_task false)
    the chief evaluates the final checkpoint and hands that over instead.
    """
    task_type, index = cluster_task()
    if task_type == 'ps':
        return serve_parameters(estimator.config)
    total = params['total_train_steps']
    if total is None:
        raise ConfigError('a cluster run needs the number of training steps: no <name>.json '
                          'next to train_files %s, so set max_train_steps' % params['train_files'])
    train_input_fn = functools.partial(input_fn, epochs=None)
    if task_type in TRAINING_TASKS and resolve_distribution(params) == 'parameter_server':
        train_input_fn = functools.partial(input_fn, epochs=None,
                                           input_context=parameter_server_input_context())
    listeners = [_EvaluationListener(on_evaluation)] if (
        on_evaluation and task_type == 'evaluator') else []
    tf.estimator.train_and_evaluate(
        estimator,
        tf.estimator.TrainSpec(train_input_fn, max_steps=total),
        tf.estimator.EvalSpec(input_fn, steps=params['max_eval_steps'], exporters=listeners,
                              start_delay_secs=0, throttle_secs=params['evaluator_throttle_secs']))
    if task_type == 'worker' and resolve_distribution(params) == 'multi_worker':
        remove_worker_scratch(estimator.model_dir, task_type, index)
    if on_evaluation and task_type == 'chief' and not params['evaluator_task']:
        checkpoint = estimator.latest_checkpoint()
        on_evaluation(estimator.evaluate(input_fn, steps=params['max_eval_steps'],
                                         checkpoint_path=checkpoint), checkpoint)
    return 0
