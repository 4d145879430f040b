"""run.py --sweep: one run per combination in its own folder, sweep.json, skipped reruns, failing members."""
import json
import os

import pytest

import run
from library import config as config_lib
from library import run_record, sweep
from test_training import run_main, tiny_flags


def short_flags(data, model_dir, **overrides):
    """One epoch of the tiny cnn (6 steps), evaluated once."""
    return tiny_flags(data, model_dir, **dict(dict(train_epochs=1, epochs_between_evals=1), **overrides))


def read_sweep(model_dir):
    with open(os.path.join(model_dir, 'sweep.json')) as stream:
        return json.load(stream)


def test_two_value_sweep_trains_two_runs_and_a_rerun_skips_both(colour_tfrecords, tmp_path):
    model_dir = str(tmp_path / 'sweep')
    argv = short_flags(colour_tfrecords, model_dir) + ['--sweep', 'learning_rate=0.01,0.02']
    code, stdout = run_main(argv)
    assert code == 0, stdout
    folders = ['learning_rate=0.01', 'learning_rate=0.02']
    assert sorted(name for name in os.listdir(model_dir) if os.path.isdir(os.path.join(model_dir, name))) == folders
    record = read_sweep(model_dir)
    assert [run['params'] for run in record['runs']] == [{'learning_rate': 0.01}, {'learning_rate': 0.02}]
    for run_entry, folder in zip(record['runs'], folders):
        assert run_entry['model_dir'] == os.path.join(model_dir, folder)
        assert run_entry['status'] == 'done'
        assert set(run_entry['best']) == {'metric', 'value', 'global_step'}
        assert run_entry['best']['metric'] == 'accuracy' and run_entry['best']['global_step'] == 6
        saved = config_lib.parse(['--config_file', os.path.join(run_entry['model_dir'], 'config.yaml')])[1]
        assert saved['learning_rate'] == run_entry['params']['learning_rate']
    table = stdout[stdout.index('run  '):].splitlines()
    values = [run_entry['best']['value'] for run_entry in record['runs']]
    assert table[1].startswith(folders[values.index(max(values))])  # best accuracy first
    lines = {folder: run_record.read_evaluations(os.path.join(model_dir, folder)) for folder in folders}

    code, stdout = run_main(argv)
    assert code == 0
    assert stdout.count('already done; skipped') == 2 and 'final evaluation' not in stdout
    assert read_sweep(model_dir)['runs'] == record['runs']
    assert {folder: run_record.read_evaluations(os.path.join(model_dir, folder)) for folder in folders} == lines


def test_failing_member_is_reported_and_the_others_go_on(colour_tfrecords, tmp_path):
    """train_batch_size 1000 exceeds the 60 training images: that run fails when it starts."""
    model_dir = str(tmp_path / 'sweep')
    argv = short_flags(colour_tfrecords, model_dir) + [
        '--sweep', 'train_batch_size=1000,10', '--sweep_workers', '2']
    code, stdout = run_main(argv)
    assert code == 1
    record = read_sweep(model_dir)
    assert [(run['params'], run['status']) for run in record['runs']] == [
        ({'train_batch_size': 1000}, 'failed'), ({'train_batch_size': 10}, 'done')]
    assert record['runs'][0]['best'] is None and record['runs'][1]['best']['global_step'] == 6
    assert ('sweep: train_batch_size=1000 failed (exit 2): run.py: error: train_batch_size 1000 is larger '
            'than the 60 training examples') in stdout
    assert 'sweep: 1 of 2 runs failed: train_batch_size=1000' in stdout
    with open(os.path.join(model_dir, 'train_batch_size=10.log')) as stream:
        assert 'final evaluation: global_step 6' in stream.read()
    table = stdout[stdout.index('run  '):].splitlines()
    assert table[1].split()[:2] == ['train_batch_size=10', 'done']
    assert table[2].split()[:2] == ['train_batch_size=1000', 'failed']


@pytest.mark.parametrize('spec, message', [
    ('imag_size=32,48', "--sweep imag_size=32,48: unknown key 'imag_size'; did you mean 'image_size'?"),
    ('image_size=4,32', '--sweep image_size=4,32: --image_size must be >= 8, got 4'),
    ('model_dir=a,b', '--sweep model_dir=a,b: model_dir is set by the sweep for each run'),
    ('learning_rate=0.1,0.1', '--sweep learning_rate=0.1,0.1: expected distinct, non-empty values'),
])
def test_bad_sweep_is_one_line_and_writes_nothing(colour_tfrecords, tmp_path, capsys, spec, message):
    model_dir = str(tmp_path / 'sweep')
    assert run.main(short_flags(colour_tfrecords, model_dir) + ['--sweep', spec]) == 2
    assert capsys.readouterr().err == 'run.py: error: %s\n' % message
    assert not os.path.exists(model_dir)


def test_list_values_and_folder_names():
    assert sweep.split_values('[8, 16],[16,32]') == ['[8, 16]', '[16,32]']
    assert sweep.folder_name([('cnn_filters', '[8, 16]', [8, 16]), ('train_files', 'a/b*.tfrecord', None)]) == (
        'cnn_filters=[8,16],train_files=a_b_.tfrecord')
