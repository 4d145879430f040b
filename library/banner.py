"""The lines a training run starts with: what it runs on, in which batches, and where."""
import sys

import tensorflow as tf

from library import distribution
from library.checkpoints import current_step

GPU_INSTALL_HINT = 'pip install -e ".[gpu]"'


def device_line():
    """Returns the GPUs TensorFlow sees by name, or says that it runs on the CPU only."""
    gpus = tf.config.list_physical_devices('GPU')
    if not gpus:
        return 'devices: no GPU visible: CPU only (for the GPU build: %s)' % GPU_INSTALL_HINT
    names = [tf.config.experimental.get_device_details(gpu).get('device_name', gpu.name)
             for gpu in gpus]
    return 'devices: %d GPU(s): %s' % (len(gpus), ', '.join(names))


def short_device(name):
    """Returns 'CPU:0' for '/job:localhost/replica:0/task:0/device:CPU:0'."""
    spec = tf.DeviceSpec.from_string(name)
    return '%s:%s' % (spec.device_type, spec.device_index) if spec.device_type else name


def replica_facts(run_config, config):
    """Returns (strategy name, replicas, this process's replica devices, per-replica batch)."""
    name = distribution.resolve_distribution(config)
    batch = config['train_batch_size']
    strategy = run_config.train_distribute
    if strategy is not None:
        replicas = strategy.num_replicas_in_sync
        devices = [short_device(device) for device in strategy.extended.worker_devices]
        return name, replicas, devices, batch // replicas
    if name == 'parameter_server':  # every worker applies updates of a whole batch
        return name, run_config.num_worker_replicas, [], batch
    return name, 1, [], batch


def lines(run_config, config):
    """Returns the banner lines of a training run with `run_config` (a tf.estimator.RunConfig)."""
    name, replicas, devices, per_replica = replica_facts(run_config, config)
    replica_text = '%d replica%s' % (replicas, '' if replicas == 1 else 's')
    if devices:
        replica_text += ' (%s%s)' % ('this task: ' if len(devices) < replicas else '',
                                     ', '.join(devices))
    step = current_step(config['model_dir'])
    return [
        'TensorFlow %s' % tf.__version__,
        device_line(),
        'distribution: %s, %s' % (name, replica_text),
        'batch: %d global, %d per replica' % (config['train_batch_size'], per_replica),
        'model_dir: %s (%s)' % (config['model_dir'],
                                'resuming from step %d' % step if step else 'new run'),
    ]


def show(run_config, config, stream=None):
    """Prints the banner lines at once."""
    stream = stream or sys.stdout
    stream.write(''.join(line + '\n' for line in lines(run_config, config)))
    stream.flush()
