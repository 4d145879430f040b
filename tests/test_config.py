"""Config sets, precedence, flags and the one-line errors of run.py."""
import os
import re
import subprocess
import sys

import pytest
import yaml

from library import config as config_lib
from library import config_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIG = """\
default: &DEFAULT
  model: cnn                # model name
  model_dir: runs/x         # where to write
  hyperparameter_file: hp.yaml  # hyperparameter file
  hyperparameter_set: default   # hyperparameter set
  train_batch_size: 32      # [>= 1] batch
  xla: false                # XLA
  max_train_steps: null     # [int >= 1] limit
  best_mode: min            # [min|max] direction
  crop_area_range: [0.08, 1.0]  # crop area
small: &SMALL
  <<: *DEFAULT
  train_batch_size: 8
  hyperparameter_set: fast
smaller:
  inherits: small
  model_dir: runs/smaller
"""
HYPER = """\
default: &DEFAULT
  learning_rate: 1.0e-4     # [>= 0] rate
  dropout_rate: 0.5         # dropout
fast:
  <<: *DEFAULT
  learning_rate: 1.0e-2
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / 'cfg.yaml').write_text(CONFIG)
    (tmp_path / 'hp.yaml').write_text(HYPER)
    return tmp_path


def parse(files, *argv):
    return config_lib.parse(['--config_file', str(files / 'cfg.yaml')] + list(argv))[1]


def run_cli(*argv, cwd=ROOT):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'run.py')] + list(argv),
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_precedence_command_line_over_set_over_default(files):
    config = parse(files, '--config_set', 'small', '--model_dir', 'cli')
    assert config['train_batch_size'] == 8
    assert config['model_dir'] == 'cli'
    assert config['model'] == 'cnn'
    assert config['learning_rate'] == 1e-2
    assert config['dropout_rate'] == 0.5
    assert config.origins['train_batch_size'] == 'set small'
    assert config.origins['model_dir'] == 'command line'
    assert config.origins['model'] == 'default (config)'
    assert config.origins['learning_rate'] == 'set fast'


def test_inherits_key_chains_sets(files):
    config = parse(files, '--config_set', 'smaller')
    assert (config['train_batch_size'], config['model_dir']) == (8, 'runs/smaller')


def test_hyperparameter_set_on_command_line_wins(files):
    config = parse(files, '--config_set', 'small', '--hyperparameter_set', 'default',
                   '--dropout_rate', '0.25')
    assert config['learning_rate'] == 1e-4
    assert config['dropout_rate'] == 0.25


@pytest.mark.parametrize('argv, expected', [
    (['--xla'], True), (['--no-xla'], False), (['--xla', 'false'], False),
    (['--xla', 'true'], True), ([], False)])
def test_boolean_flags(files, argv, expected):
    assert parse(files, *argv)['xla'] is expected


def test_typed_values_from_command_line(files):
    config = parse(files, '--max_train_steps', '7', '--crop_area_range', '[0.5, 1.0]')
    assert config['max_train_steps'] == 7
    assert config['crop_area_range'] == [0.5, 1.0]
    assert parse(files, '--max_train_steps', 'null')['max_train_steps'] is None


def without_location(config):
    """The values of `config` but hyperparameter_file (where the hyperparameters were read)."""
    return {key: value for key, value in config.items() if key != 'hyperparameter_file'}


def write_saved(config, folder):
    folder.mkdir()
    for name, text in config_files.saved_files(config).items():
        (folder / name).write_text(text)
    return folder / 'config.yaml'


def test_saved_config_reproduces_the_run(files, tmp_path):
    config = parse(files, '--config_set', 'small', '--xla', '--learning_rate', '0.5')
    saved = write_saved(config, tmp_path / 'saved')
    assert sorted(os.listdir(tmp_path / 'saved')) == ['config.yaml']
    assert 'run.py' in saved.read_text().splitlines()[0]
    again = config_lib.parse(['--config_file', str(saved)])[1]
    assert without_location(again) == without_location(config)
    assert again['hyperparameter_set'] == 'fast'


def test_saved_config_records_commit_and_versions(files, tmp_path):
    import platform

    import numpy
    import tensorflow as tf
    header = write_saved(parse(files), tmp_path / 'saved').read_text().split('\ndefault:')[0]
    assert re.search(r'^# git commit ([0-9a-f]{40}( \(dirty: uncommitted changes\))?|: unknown)',
                     header, re.M), header
    assert '# Python %s, TensorFlow %s, NumPy %s' % (
        platform.python_version(), tf.__version__, numpy.__version__) in header


def test_saved_config_keeps_the_rules_of_every_key(files, tmp_path):
    config = parse(files, '--config_set', 'small', '--max_train_steps', '9', '--learning_rate', '1')
    saved = str(write_saved(config, tmp_path / 'saved'))
    for flag, value, expected in [
            ('--train_batch_size', '0', '--train_batch_size must be >= 1, got 0'),
            ('--best_mode', 'median', "--best_mode must be one of min|max, got 'median'"),
            ('--learning_rate', '-1', '--learning_rate must be >= 0, got -1.0')]:
        with pytest.raises(config_lib.ConfigError) as error:
            config_lib.parse(['--config_file', saved, flag, value])
        assert str(error.value) == expected
    again = config_lib.parse(['--config_file', saved, '--max_train_steps', 'null',
                              '--learning_rate', '0.25'])[1]
    assert again['max_train_steps'] is None and again['learning_rate'] == 0.25
    rules = config_lib.SetFile(saved, 'config').rules
    assert rules['train_batch_size'].help == 'batch'
    assert rules['max_train_steps'].help == 'limit'


def test_saved_config_refuses_out_of_bounds_values_like_project_yaml(tmp_path):
    _, config = config_lib.parse(['--config_file', os.path.join(ROOT, 'project.yaml'),
                                  '--config_set', 'demo'])
    saved = write_saved(config, tmp_path / 'runs_x')
    result = run_cli('--config_file', str(saved), '--train_batch_size', '0', cwd=str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == 'run.py: error: --train_batch_size must be >= 1, got 0\n'
    assert not os.path.exists(tmp_path / 'runs')


def printed_values(text):
    """Returns the values of a --print_config output: its config and hyperparameter defaults."""
    data = yaml.safe_load(text)
    return dict(data['default'], **data[config_lib.HYPERPARAMETER_SETS]['default'])


def test_print_config_loads_back_from_another_folder(tmp_path):
    argv = ['--config_set', 'demo', '--learning_rate', '0.02', '--max_train_steps', '5',
            '--crop_area_range', '[0.4, 1.0]']
    first = run_cli(*argv, '--print_config')
    assert first.returncode == 0, first.stderr
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    (elsewhere / 'printed.yaml').write_text(first.stdout)
    again = run_cli('--config_file', 'printed.yaml', '--print_config', cwd=str(elsewhere))
    assert again.returncode == 0, again.stderr
    _, config = config_lib.parse(['--config_file', os.path.join(ROOT, 'project.yaml')] + argv)
    assert without_location(printed_values(again.stdout)) == without_location(config)
    assert without_location(printed_values(first.stdout)) == without_location(config)
    assert re.search(r'^ +learning_rate: 0.02 .*<- command line$', first.stdout, re.M)
    assert re.search(r'^ +image_size: 48 .*# \[int >= 8 <= 8192\] .*<- set demo$', first.stdout, re.M)


BROKEN = {
    'syntax': ('default:\n  model: cnn  # m\n  bad: [unclosed\n', 'line'),
    'not_mapping': ('default:\n  model: cnn  # m\nother: 5\n', "'other' must be a mapping"),
    'top_level': ('- a\n- b\n', 'expected a mapping'),
    'cycle': ('default:\n  model: cnn  # m\na:\n  inherits: b\nb:\n  inherits: a\n', 'cycle'),
    'unknown_key': ('default:\n  model: cnn  # m\na:\n  modle: x\n', "did you mean 'model'"),
    'wrong_type': ('default:\n  epochs: 3  # e\na:\n  epochs: many\n', 'must be an integer'),
    'python_tag': ('default:\n  model: !!python/object/apply:os.system ["echo hacked"]\n',
                   'invalid YAML'),
    'duplicate': ('default:\n  model: cnn  # m\n  model: x  # m\n', 'duplicate key'),
}


@pytest.mark.parametrize('case', sorted(BROKEN))
def test_broken_config_files_are_one_line_errors(case, tmp_path):
    text, expected = BROKEN[case]
    path = tmp_path / 'broken.yaml'
    path.write_text(text)
    (tmp_path / 'hyperparameters.yaml').write_text(HYPER)
    with pytest.raises(config_lib.ConfigError) as error:
        config_lib.parse(['--config_file', str(path), '--config_set', 'a'])
    assert expected in str(error.value)
    assert str(path) in str(error.value)
    assert '\n' not in str(error.value)


@pytest.mark.parametrize('argv, expected', [
    (['--config_set', 'nope'], "unknown config set 'nope'; available sets: default, demo"),
    (['--train_bach_size', '3'], "did you mean 'train_batch_size'"),
    (['--train_batch_size', 'abc'], "invalid int value: 'abc'"),
    (['--train_batch_size', '-4'], '--train_batch_size must be >= 1, got -4'),
    (['--config_file', 'missing.yaml'], 'missing.yaml: file not found'),
    (['--hyperparameter_set', 'nope'], "unknown hyperparameter set 'nope'"),
    (['--model', 'os'], "unknown model 'os'; known models: autoencoder, cnn"),
])
def test_run_py_errors_are_one_line_and_exit_2(argv, expected, tmp_path):
    result = run_cli(*argv, '--model_dir', str(tmp_path / 'm'))
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert 'Traceback' not in result.stderr


def shipped_sets():
    with open(os.path.join(ROOT, 'project.yaml')) as stream:
        return sorted(yaml.safe_load(stream))


@pytest.mark.parametrize('set_name', shipped_sets())
def test_print_config_for_every_shipped_set(set_name):
    args, config = config_lib.parse(['--config_file', os.path.join(ROOT, 'project.yaml'),
                                     '--config_set', set_name, '--print_config'])
    assert printed_values(config_files.printed(config)) == dict(config)
    assert all(config.origins[key] for key in config)


def test_print_config_does_not_import_tensorflow():
    code = ('import sys, run; code = run.main(["--config_set", "gtx1080ti", "--print_config"]); '
            'sys.exit(code or ("tensorflow" in sys.modules))')
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'train_batch_size: 512' in result.stdout
    assert '<- set gtx1080ti' in result.stdout


def test_help_lists_every_key_with_help_text():
    result = run_cli('--help')
    assert result.returncode == 0
    _, config = config_lib.parse(['--config_file', os.path.join(ROOT, 'project.yaml')])
    for key in config:
        assert '--%s ' % key in result.stdout or '--%s\n' % key in result.stdout, key
    assert '(default:' in result.stdout


def test_every_shipped_key_has_help_text():
    for name in ('project.yaml', 'hyperparameters.yaml'):
        set_file = config_lib.SetFile(os.path.join(ROOT, name), name)
        missing = [key for key, rule in set_file.rules.items() if rule.help == key]
        assert not missing, '%s: keys without a # help comment: %s' % (name, missing)
