"""Best-snapshot logic on fake checkpoint files: choice, restart, atomicity, ownership."""
import json
import os

import pytest

from library import best_snapshot, files
from library.best_snapshot import BestSnapshot
from library.config import ConfigError


def fake_checkpoint(model_dir, step):
    """Writes the files of checkpoint model.ckpt-<step> (contents name the step)."""
    os.makedirs(model_dir, exist_ok=True)
    prefix = os.path.join(model_dir, 'model.ckpt-%d' % step)
    for suffix in ('.index', '.data-00000-of-00001', '.meta'):
        with open(prefix + suffix, 'w') as stream:
            stream.write('step %d%s' % (step, suffix))
    return prefix


def offer(snapshot, model_dir, step, value, metric='loss'):
    return snapshot.update({metric: value, 'global_step': step}, fake_checkpoint(model_dir, step))


def read_best(best_dir):
    with open(os.path.join(best_dir, 'best.json')) as stream:
        return json.load(stream)


def snapshot_content(best_dir):
    """Returns the text of the .index file of the snapshot best.json names."""
    record = read_best(best_dir)
    with open(os.path.join(best_dir, record['checkpoint'] + '.index')) as stream:
        return stream.read()


@pytest.mark.parametrize('mode, values, best_step, improvements', [
    ('min', [0.9, 0.5, 0.7, 0.6], 200, [True, True, False, False]),
    ('max', [0.2, 0.8, 0.85, 0.3], 300, [True, True, True, False]),
])
def test_best_is_chosen_by_mode(tmp_path, mode, values, best_step, improvements):
    model_dir, best_dir = str(tmp_path / 'run'), str(tmp_path / 'best')
    snapshot = BestSnapshot(best_dir, 'loss', mode)
    improved = [offer(snapshot, model_dir, 100 * (i + 1), value) for i, value in enumerate(values)]
    record = read_best(best_dir)
    assert record['global_step'] == best_step
    assert record['value'] == pytest.approx(values[best_step // 100 - 1])
    assert record['metric'] == 'loss' and record['mode'] == mode
    assert set(record) >= {'metric', 'mode', 'value', 'global_step', 'checkpoint', 'time'}
    assert snapshot_content(best_dir) == 'step %d.index' % best_step
    assert improved == improvements


def test_checkpoint_state_file_lets_tensorflow_find_the_snapshot(tmp_path):
    best_dir = str(tmp_path / 'best')
    offer(BestSnapshot(best_dir, 'loss', 'min'), str(tmp_path / 'run'), 40, 1.0)
    folder = os.path.join(best_dir, 'step-40')
    with open(os.path.join(folder, 'checkpoint')) as stream:
        assert 'model_checkpoint_path: "model.ckpt-40"' in stream.read()
    assert sorted(os.listdir(folder)) == ['checkpoint', 'model.ckpt-40.data-00000-of-00001',
                                          'model.ckpt-40.index', 'model.ckpt-40.meta']


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), float('-inf')])
def test_non_finite_values_never_win(tmp_path, bad):
    model_dir, best_dir = str(tmp_path / 'run'), str(tmp_path / 'best')
    snapshot = BestSnapshot(best_dir, 'loss', 'min')
    assert not offer(snapshot, model_dir, 100, bad)
    assert not os.path.exists(os.path.join(best_dir, 'best.json'))
    assert offer(snapshot, model_dir, 200, 0.5)
    assert not offer(snapshot, model_dir, 300, bad)
    assert read_best(best_dir)['global_step'] == 200


def test_missing_metric_is_an_error_naming_the_metrics(tmp_path):
    snapshot = BestSnapshot(str(tmp_path / 'best'), 'acuracy', 'max')
    with pytest.raises(ConfigError, match=r"'acuracy'.*accuracy, global_step, loss"):
        snapshot.update({'accuracy': 0.5, 'loss': 1.0, 'global_step': 3},
                        fake_checkpoint(str(tmp_path / 'run'), 3))


def test_restart_reads_the_best_value_and_keeps_a_better_snapshot(tmp_path):
    model_dir, best_dir = str(tmp_path / 'run'), str(tmp_path / 'best')
    offer(BestSnapshot(best_dir, 'accuracy', 'max'), model_dir, 100, 0.9, 'accuracy')
    restarted = BestSnapshot(best_dir, 'accuracy', 'max')
    assert restarted.best_value == pytest.approx(0.9)
    assert not offer(restarted, model_dir, 200, 0.6, 'accuracy')
    assert read_best(best_dir)['global_step'] == 100
    assert snapshot_content(best_dir) == 'step 100.index'
    assert offer(restarted, model_dir, 300, 0.95, 'accuracy')
    assert read_best(best_dir)['global_step'] == 300


def test_restart_with_another_metric_is_refused(tmp_path):
    best_dir = str(tmp_path / 'best')
    offer(BestSnapshot(best_dir, 'loss', 'min'), str(tmp_path / 'run'), 100, 0.9)
    with pytest.raises(ConfigError, match='best.json records the best loss'):
        BestSnapshot(best_dir, 'accuracy', 'max')


def test_keeps_only_keep_best_max_snapshots(tmp_path):
    model_dir, best_dir = str(tmp_path / 'run'), str(tmp_path / 'best')
    snapshot = BestSnapshot(best_dir, 'loss', 'min', keep_max=2)
    for step, value in [(100, 0.9), (200, 0.8), (300, 0.85), (400, 0.7), (500, 0.6)]:
        offer(snapshot, model_dir, step, value)
    record = read_best(best_dir)
    assert [entry['global_step'] for entry in record['snapshots']] == [500, 400]
    assert sorted(name for name in os.listdir(best_dir) if name.startswith('step-')) == [
        'step-400', 'step-500']


def test_never_deletes_files_it_did_not_create(tmp_path):
    model_dir, best_dir = str(tmp_path / 'run'), tmp_path / 'best'
    best_dir.mkdir()
    (best_dir / 'notes.txt').write_text('mine')
    (best_dir / 'step-7').mkdir()
    (best_dir / 'step-7' / 'other-run.index').write_text('another run')
    snapshot = BestSnapshot(str(best_dir), 'loss', 'min', keep_max=1)
    for step, value in [(7, 0.9), (20, 0.5), (30, 0.4)]:
        offer(snapshot, model_dir, step, value)
    assert (best_dir / 'notes.txt').read_text() == 'mine'
    assert (best_dir / 'step-7' / 'other-run.index').read_text() == 'another run'
    assert read_best(str(best_dir))['global_step'] == 30


def test_leftover_of_a_killed_copy_is_never_the_best_and_is_cleaned(tmp_path):
    model_dir, best_dir = str(tmp_path / 'run'), str(tmp_path / 'best')
    offer(BestSnapshot(best_dir, 'loss', 'min'), model_dir, 100, 0.5)
    leftover = os.path.join(best_dir, files.TEMPORARY_PREFIX + 'step-200-0123')
    os.makedirs(leftover)
    with open(os.path.join(leftover, 'model.ckpt-200.index'), 'w') as stream:
        stream.write('half')
    with open(os.path.join(best_dir, 'best.json' + files.TEMPORARY_PREFIX + 'ab'),
              'w') as stream:
        stream.write('{"value": 0.0')
    restarted = BestSnapshot(best_dir, 'loss', 'min')
    assert restarted.best_value == pytest.approx(0.5)
    assert sorted(os.listdir(best_dir)) == ['best.json', 'step-100']


def test_kill_before_best_json_keeps_the_previous_best(tmp_path, monkeypatch):
    model_dir, best_dir = str(tmp_path / 'run'), str(tmp_path / 'best')
    offer(BestSnapshot(best_dir, 'loss', 'min'), model_dir, 100, 0.5)

    def killed(path, text):
        raise KeyboardInterrupt('killed while writing best.json')
    monkeypatch.setattr(files, 'write_atomically', killed)
    with pytest.raises(KeyboardInterrupt):
        offer(BestSnapshot(best_dir, 'loss', 'min'), model_dir, 200, 0.1)
    monkeypatch.undo()
    restarted = BestSnapshot(best_dir, 'loss', 'min')
    assert restarted.best_value == pytest.approx(0.5)
    assert snapshot_content(best_dir) == 'step 100.index'
    assert offer(restarted, model_dir, 200, 0.1)
    assert read_best(best_dir)['checkpoint'] == 'step-200.1/model.ckpt-200'
    assert snapshot_content(best_dir) == 'step 200.index'


def test_incomplete_source_checkpoint_is_not_snapshotted(tmp_path):
    best_dir = str(tmp_path / 'best')
    prefix = fake_checkpoint(str(tmp_path / 'run'), 100)
    os.remove(prefix + '.data-00000-of-00001')
    with pytest.raises(FileNotFoundError, match='incomplete'):
        BestSnapshot(best_dir, 'loss', 'min').update({'loss': 0.1, 'global_step': 100}, prefix)
    assert not os.path.exists(os.path.join(best_dir, 'best.json'))


def test_works_on_the_in_memory_file_system():
    import tensorflow as tf
    model_dir, best_dir = 'ram://best_snapshot_test/run', 'ram://best_snapshot_test/best'
    tf.io.gfile.makedirs(model_dir)
    prefix = model_dir + '/model.ckpt-5'
    for suffix in ('.index', '.data-00000-of-00001'):
        with tf.io.gfile.GFile(prefix + suffix, 'w') as stream:
            stream.write('five')
    snapshot = BestSnapshot(best_dir, 'loss', 'min')
    assert snapshot.update({'loss': 0.3, 'global_step': 5}, prefix)
    checkpoint, record = best_snapshot.best_checkpoint(best_dir)
    assert record['value'] == pytest.approx(0.3)
    with tf.io.gfile.GFile(checkpoint + '.index') as stream:
        assert stream.read() == 'five'


def test_best_checkpoint_without_record_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match='no best.json'):
        best_snapshot.best_checkpoint(str(tmp_path))


@pytest.mark.parametrize('mode, keep', [('median', 1), ('min', 0)])
def test_bad_mode_or_keep_is_a_config_error(tmp_path, mode, keep):
    with pytest.raises(ConfigError):
        BestSnapshot(str(tmp_path), 'loss', mode, keep)


def test_record_names_its_model_dir_and_another_run_is_refused(tmp_path):
    run_a, run_b, best_dir = str(tmp_path / 'a'), str(tmp_path / 'b'), str(tmp_path / 'shared')
    offer(BestSnapshot(best_dir, 'loss', 'min', model_dir=run_a), run_a, 100, 0.5)
    assert read_best(best_dir)['model_dir'] == run_a
    message = ('%s belongs to model_dir %s, not to this run\'s model_dir %s; give this run its own '
               'best_model_dir' % (os.path.join(best_dir, 'best.json'), run_a, run_b))
    with pytest.raises(ConfigError) as refused:
        BestSnapshot(best_dir, 'loss', 'min', model_dir=run_b)
    assert str(refused.value) == message
    with pytest.raises(ConfigError) as refused:
        best_snapshot.best_checkpoint(best_dir, run_b)
    assert str(refused.value) == message
    assert best_snapshot.best_checkpoint(best_dir, run_a)[1]['global_step'] == 100
    assert sorted(os.listdir(best_dir)) == ['best.json', 'step-100']


def test_best_dir_inside_model_dir_moves_with_it(tmp_path):
    model_dir = str(tmp_path / 'run')
    best_dir = os.path.join(model_dir, 'best')
    offer(BestSnapshot(best_dir, 'loss', 'min', model_dir=model_dir), model_dir, 100, 0.5)
    assert read_best(best_dir)['model_dir'] == '..'
    moved = str(tmp_path / 'moved')
    os.rename(model_dir, moved)
    restarted = BestSnapshot(os.path.join(moved, 'best'), 'loss', 'min', model_dir=moved)
    assert restarted.best_value == pytest.approx(0.5)
    with pytest.raises(ConfigError, match='belongs to model_dir %s' % moved):
        BestSnapshot(os.path.join(moved, 'best'), 'loss', 'min', model_dir=model_dir)


BAD_RECORDS = {
    # name: (change to a valid record, or the whole file's text; words of the message)
    'nan_value': ({'value': float('nan')}, 'the record value must be a finite number, got NaN'),
    'string_value': ({'value': '0.5'}, 'the record value must be a finite number, got "0.5"'),
    'null_value': ({'value': None}, 'the record value must be a finite number, got null'),
    'infinite_in_snapshots': ({'snapshots': [{'value': float('inf'), 'global_step': 100,
                                              'checkpoint': 'step-100/model.ckpt-100'}]},
                              'snapshots[0] value must be a finite number, got Infinity'),
    'string_step': ({'global_step': '100'}, 'the record global_step must be a step number, got "100"'),
    'unknown_mode': ({'mode': 'median'}, 'the record mode must be min or max, got "median"'),
    'bare_number': ('0.5\n', 'the record must be a mapping, got 0.5'),
    'missing_folder': ({'checkpoint': 'step-7/model.ckpt-7'},
                       'the record checkpoint "step-7/model.ckpt-7" does not exist (no %s)'),
}


@pytest.mark.parametrize('case', sorted(BAD_RECORDS))
def test_wrong_values_in_best_json_are_one_line_naming_the_file_and_key(tmp_path, case):
    model_dir, best_dir = str(tmp_path / 'run'), str(tmp_path / 'best')
    offer(BestSnapshot(best_dir, 'loss', 'min'), model_dir, 100, 0.5)
    change, words = BAD_RECORDS[case]
    path = os.path.join(best_dir, 'best.json')
    if isinstance(change, str):
        text = change
    else:
        text = json.dumps(dict(read_best(best_dir), **change))
    with open(path, 'w') as stream:
        stream.write(text)
    if case == 'missing_folder':
        words %= os.path.join(best_dir, 'step-7', 'model.ckpt-7.index')
    for read in (lambda: BestSnapshot(best_dir, 'loss', 'min'),
                 lambda: best_snapshot.best_checkpoint(best_dir)):
        with pytest.raises(ConfigError) as refused:
            read()
        assert str(refused.value) == '%s: %s; fix or move away that file' % (path, words)
