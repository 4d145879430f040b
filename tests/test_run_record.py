"""metrics.jsonl, the TensorBoard HParams entry and evaluation progress, on the cnn trained in test_training."""
import glob
import io
import json
import os

import tensorflow as tf
from tensorboard.plugins.hparams import plugin_data_pb2

from library import hooks, run_record
from test_training import read_best


def summary_values(folder):
    """Returns [(step, Summary.Value)] of every event file directly in `folder`."""
    found = []
    for path in sorted(glob.glob(os.path.join(folder, 'events.out.tfevents.*'))):
        for event in tf.compat.v1.train.summary_iterator(path):
            found.extend((event.step, value) for value in event.summary.value)
    return found


def test_metrics_jsonl_has_one_line_per_evaluation(trained_run):
    model_dir = trained_run['model_dir']
    with open(os.path.join(model_dir, 'metrics.jsonl')) as stream:
        lines = [json.loads(line) for line in stream]
    assert lines == run_record.read_evaluations(model_dir)
    assert [line['global_step'] for line in lines] == [24, 48]  # every 4 epochs of 6 steps
    for line in lines:
        assert set(line) == {'global_step', 'time', 'accuracy', 'loss', 'mean_per_class_accuracy',
                             'top_k_accuracy', 'best'}
        assert isinstance(line['accuracy'], float) and isinstance(line['loss'], float)
        assert line['time'].endswith('+00:00')
    record = read_best(model_dir)
    assert [line['best'] for line in lines][0] is True
    [best] = [line for line in lines if line['global_step'] == record['global_step']]
    assert best['best'] and best['accuracy'] == record['value']


def test_hparams_entry_holds_the_run_values_and_its_best_metric(trained_run):
    model_dir = trained_run['model_dir']
    values = summary_values(model_dir)
    plugin = {value.tag: plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
              for _, value in values if value.metadata.plugin_data.plugin_name == 'hparams'}
    hparams = plugin['_hparams_/session_start_info'].session_start_info.hparams
    assert hparams['model'].string_value == 'cnn'
    assert hparams['image_size'].number_value == 32
    assert hparams['learning_rate'].number_value == 0.01
    assert hparams['cnn_filters'].string_value == '[8, 16]'
    assert 'train_epochs' not in hparams  # run length does not define the run
    experiment = plugin['_hparams_/experiment'].experiment
    assert {metric.name.tag for metric in experiment.metric_infos} == {'loss', 'accuracy', 'best/accuracy'}
    best = [(step, value.simple_value) for step, value in summary_values(os.path.join(model_dir, 'eval'))
            if value.tag == 'best/accuracy']
    record = read_best(model_dir)
    assert best[-1] == (record['global_step'], record['value'])


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_evaluation_progress_only_when_it_takes_long():
    stream, clock = io.StringIO(), FakeClock()
    hook = hooks.EvaluationProgressHook(10, delay_secs=5, every_secs=5, stream=stream, clock=clock)
    hook.after_create_session(None, None)
    for _ in range(4):  # 4 batches in 4 s: nothing printed yet
        clock.now += 1
        hook.after_run(None, None)
    assert stream.getvalue() == ''
    for _ in range(6):
        clock.now += 1
        hook.after_run(None, None)
    assert stream.getvalue().splitlines() == ['evaluation: batch 5/10  ETA 0:00:05',
                                              'evaluation: batch 10/10  ETA 0:00:00']
    unknown = hooks.EvaluationProgressHook(None, delay_secs=0, stream=stream, clock=clock)
    unknown.after_create_session(None, None)
    unknown.after_run(None, None)
    assert stream.getvalue().splitlines()[-1] == 'evaluation: batch 1'
