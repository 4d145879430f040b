"""Strategy choice from the config and TF_CONFIG, and what each cluster task is responsible for."""
import json
import os

import pytest
import tensorflow as tf

from library import config as config_lib
from library import distribution

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PS_CLUSTER = {'chief': ['localhost:1'], 'worker': ['localhost:2', 'localhost:3'],
              'ps': ['localhost:4']}
WORKER_CLUSTER = {'chief': ['localhost:1'], 'worker': ['localhost:2']}


def make_config(*flags):
    _, config = config_lib.parse(['--config_file', os.path.join(ROOT, 'project.yaml')] +
                                 list(flags))
    return config


def set_tf_config(monkeypatch, cluster, task_type, index=0):
    monkeypatch.setenv('TF_CONFIG', json.dumps({
        'cluster': cluster, 'task': {'type': task_type, 'index': index}}))


@pytest.fixture(autouse=True)
def no_tf_config(monkeypatch):
    monkeypatch.delenv('TF_CONFIG', raising=False)


def test_without_tf_config_there_is_no_cluster():
    config = make_config()
    assert distribution.cluster_task() is None
    assert distribution.is_chief()
    assert distribution.keeps_best_snapshot(config)
    assert distribution.resolve_distribution(config) == 'none'
    assert distribution.make_strategies(config) == (None, None)
    assert distribution.device_filters(config) is None


def test_auto_follows_tf_config_and_gpus(monkeypatch):
    config = make_config('--distribution', 'auto')
    gpus = len(tf.config.list_physical_devices('GPU'))
    assert distribution.resolve_distribution(config) == ('mirrored' if gpus > 1 else 'none')
    set_tf_config(monkeypatch, PS_CLUSTER, 'worker', 1)
    assert distribution.resolve_distribution(config) == 'parameter_server'
    set_tf_config(monkeypatch, WORKER_CLUSTER, 'chief')
    assert distribution.resolve_distribution(config) == 'multi_worker'


@pytest.mark.parametrize('distribution_name, cluster, message', [
    ('none', WORKER_CLUSTER, 'describes a cluster of 2 training task(s); set distribution to'),
    ('mirrored', PS_CLUSTER, 'describes a cluster of 3 training task(s) and ps tasks'),
    ('multi_worker', PS_CLUSTER, 'multi_worker uses no ps tasks, but TF_CONFIG lists 1'),
    ('parameter_server', WORKER_CLUSTER, 'needs TF_CONFIG with ps tasks'),
])
def test_distribution_must_fit_the_cluster(monkeypatch, distribution_name, cluster, message):
    set_tf_config(monkeypatch, cluster, 'chief')
    with pytest.raises(config_lib.ConfigError, match=message.replace('(', r'\(').replace(
            ')', r'\)')):
        distribution.resolve_distribution(make_config('--distribution', distribution_name))


def test_parameter_server_launch_hint_without_tf_config():
    with pytest.raises(config_lib.ConfigError, match='python -m library.launch'):
        distribution.resolve_distribution(make_config('--distribution', 'parameter_server'))


def test_mirrored_devices_only_with_mirrored():
    config = make_config('--distribution', 'none', '--mirrored_devices', "['/cpu:0']")
    with pytest.raises(config_lib.ConfigError, match='applies to mirrored only'):
        distribution.resolve_distribution(config)


def test_bad_tf_config_is_a_config_error(monkeypatch):
    monkeypatch.setenv('TF_CONFIG', '{"cluster": ')
    with pytest.raises(config_lib.ConfigError, match='TF_CONFIG is not valid JSON'):
        distribution.cluster_task()
    monkeypatch.setenv('TF_CONFIG', json.dumps({'cluster': WORKER_CLUSTER}))
    with pytest.raises(config_lib.ConfigError, match='no task'):
        distribution.cluster_task()


@pytest.mark.parametrize('task_type, index, evaluator_task, chief, keeps_best', [
    ('chief', 0, False, True, True),
    ('worker', 0, False, False, False),
    ('ps', 0, False, False, False),
    ('chief', 0, True, True, False),
    ('evaluator', 0, True, False, True),
])
def test_one_task_writes_each_output(monkeypatch, task_type, index, evaluator_task, chief,
                                     keeps_best):
    set_tf_config(monkeypatch, PS_CLUSTER, task_type, index)
    config = make_config('--evaluator_task', str(evaluator_task).lower())
    assert distribution.is_chief() == chief
    assert distribution.keeps_best_snapshot(config) == keeps_best


def test_parameter_server_workers_read_their_own_files_with_whole_batches(monkeypatch):
    pipelines = []
    for task_type, index in (('chief', 0), ('worker', 0), ('worker', 1)):
        set_tf_config(monkeypatch, PS_CLUSTER, task_type, index)
        context = distribution.parameter_server_input_context()
        assert context.num_input_pipelines == 3
        assert context.get_per_replica_batch_size(32) == 32
        pipelines.append(context.input_pipeline_id)
    assert pipelines == [0, 1, 2]


def test_parameter_server_sessions_only_see_ps_and_themselves(monkeypatch):
    config = make_config('--distribution', 'parameter_server')
    set_tf_config(monkeypatch, PS_CLUSTER, 'worker', 1)
    assert distribution.device_filters(config) == ['/job:ps', '/job:worker/task:1']
    set_tf_config(monkeypatch, PS_CLUSTER, 'chief')
    assert distribution.device_filters(config) == ['/job:ps', '/job:chief']
    set_tf_config(monkeypatch, WORKER_CLUSTER, 'chief')
    assert distribution.device_filters(make_config('--distribution', 'multi_worker')) is None


def test_evaluator_and_parameter_server_tasks_use_no_strategy(monkeypatch):
    set_tf_config(monkeypatch, PS_CLUSTER, 'worker', 0)
    assert distribution.make_strategies(make_config('--distribution', 'parameter_server')) == (
        None, None)
    set_tf_config(monkeypatch, WORKER_CLUSTER, 'evaluator')
    assert distribution.make_strategies(make_config('--distribution', 'multi_worker')) == (
        None, None)
    set_tf_config(monkeypatch, {'evaluator': ['localhost:5']}, 'evaluator')
    config = make_config('--distribution', 'parameter_server')
    assert distribution.make_strategies(config) == (None, None)
    assert distribution.device_filters(config) is None


def test_global_batch_must_split_across_replicas():
    config = make_config('--train_batch_size', '30', '--distribution', 'mirrored')
    with pytest.raises(config_lib.ConfigError, match='train_batch_size 30 is the global batch '
                                                     'and must split evenly across the 4'):
        distribution.check_train_batch_size(config, 4)
    distribution.check_train_batch_size(make_config('--train_batch_size', '32'), 4)


def test_cpu_devices_after_tensorflow_started_is_a_clear_error():
    present = len(tf.config.list_logical_devices('CPU'))
    distribution.configure_cpu_devices(present)
    with pytest.raises(config_lib.ConfigError, match='before the first TensorFlow operation'):
        distribution.configure_cpu_devices(present + 1)
