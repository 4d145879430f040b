"""best.json shared between runs or edited by hand: refused with one line and exit 2 when the run
starts, before any training or evaluation time is spent."""
import json
import os
import shutil

import pytest

import run
from faults.conftest import checkpoint_steps, run_in_process, tiny_flags


@pytest.fixture(scope='module')
def trained_dir(shapes_tfrecords, tmp_path_factory):
    """A model_dir trained one epoch (checkpoint 15) with its best snapshot in model_dir/best."""
    model_dir = str(tmp_path_factory.mktemp('trained') / 'model')
    assert run.main(tiny_flags(shapes_tfrecords, model_dir, train_epochs=1)) == 0
    return model_dir


def assert_refused(code, out, err, line):
    assert code == 2, out + err
    assert err.strip().splitlines() == ['run.py: error: ' + line]
    assert 'step 1/' not in out and 'step 16/' not in out and 'evaluation: ' not in out


def test_a_run_refuses_a_best_model_dir_that_belongs_to_another_run(
        shapes_tfrecords, trained_dir, tmp_path, capfd):
    best_dir = os.path.join(trained_dir, 'best')
    with open(os.path.join(best_dir, 'best.json')) as stream:
        before = stream.read()
    other = str(tmp_path / 'other')
    line = ('%s belongs to model_dir %s, not to this run\'s model_dir %s; give this run its own '
            'best_model_dir' % (os.path.join(best_dir, 'best.json'), trained_dir, other))
    flags = tiny_flags(shapes_tfrecords, other, best_model_dir=best_dir)
    assert_refused(*run_in_process(flags, capfd), line)
    assert not os.path.exists(os.path.join(other, 'checkpoint'))
    shutil.copytree(trained_dir, other, ignore=shutil.ignore_patterns('best'), dirs_exist_ok=True)
    assert_refused(*run_in_process(flags + ['--mode', 'export', '--checkpoint', 'best',
                                            '--export_dir', str(tmp_path / 'export')], capfd), line)
    assert not os.path.exists(str(tmp_path / 'export'))
    with open(os.path.join(best_dir, 'best.json')) as stream:
        assert stream.read() == before


@pytest.mark.parametrize('case, text, words', [
    ('nan', '{"value": NaN}', 'the record value must be a finite number, got NaN'),
    ('string', '{"value": "0.5"}', 'the record value must be a finite number, got "0.5"'),
    ('null', '{"value": null}', 'the record value must be a finite number, got null'),
    ('bare_number', '0.5', 'the record must be a mapping, got 0.5'),
    ('missing_snapshot', '{"checkpoint": "step-99/model.ckpt-99"}',
     'the record checkpoint "step-99/model.ckpt-99" does not exist (no %s)'),
])
def test_wrong_best_json_is_refused_when_the_run_starts(
        case, text, words, shapes_tfrecords, trained_dir, tmp_path, capfd):
    model_dir = str(tmp_path / 'model')
    shutil.copytree(trained_dir, model_dir)
    path = os.path.join(model_dir, 'best', 'best.json')
    with open(path) as stream:
        record = json.load(stream)
    change = json.loads(text)
    with open(path, 'w') as stream:
        stream.write(json.dumps(dict(record, **change)) if isinstance(change, dict) else text)
    if case == 'missing_snapshot':
        words %= os.path.join(model_dir, 'best', 'step-99', 'model.ckpt-99.index')
    line = '%s: %s; fix or move away that file' % (path, words)
    assert_refused(*run_in_process(tiny_flags(shapes_tfrecords, model_dir, train_epochs=2), capfd),
                   line)
    assert checkpoint_steps(model_dir) == [5, 10, 15]
    assert_refused(*run_in_process(tiny_flags(shapes_tfrecords, model_dir) + [
        '--mode', 'evaluate', '--checkpoint', 'best'], capfd), line)
