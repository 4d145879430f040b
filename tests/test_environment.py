"""The pinned platform: requirements, environment.yaml and the RunConfig built from a config."""
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(name):
    with open(os.path.join(ROOT, name)) as stream:
        return stream.read()


def test_requirements_pin_the_last_estimator_release():
    pins = read('requirements.txt')
    for pin in ('tensorflow==2.15.1', 'tensorflow-estimator==2.15.0', 'tensorflow-hub==0.16.1',
                'numpy<2', 'setuptools<81', 'tf-keras==2.15'):
        assert pin in pins, pin


def test_environment_yaml_installs_the_lock_and_nothing_else():
    spec = yaml.safe_load(read('environment.yaml'))
    assert spec['name']
    assert spec['channels']
    dependencies = spec['dependencies']
    assert 'python=3.11' in dependencies
    assert 'pip' in dependencies
    pip_sections = [item['pip'] for item in dependencies if isinstance(item, dict)]
    assert pip_sections == [['-r requirements.lock']]
    conda_packages = [item for item in dependencies if isinstance(item, str)]
    assert sorted(conda_packages) == ['pip', 'python=3.11']


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    import numpy
    import tensorflow as tf
    assert tf.__version__ == '2.15.1'
    assert version('tensorflow-estimator') == '2.15.0'
    assert int(numpy.__version__.split('.')[0]) < 2
    assert hasattr(tf, 'estimator')


def test_tensorflow_hub_imports_with_the_pinned_setuptools():
    result = subprocess.run([sys.executable, '-c', 'import tensorflow_hub; print(tensorflow_hub.__version__)'],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '0.16.1'


def test_makefile_refuses_unsupported_pythons_by_name():
    makefile = read('Makefile')
    assert re.search(r'\(3, 9\) <= sys.version_info\[:2\] <= \(3, 11\)', makefile)
    assert 'need Python 3.9, 3.10 or 3.11' in makefile


def test_ci_runs_the_readme_test_command():
    assert 'make test' in read('README.md')
    assert 'make test' in read('.ci/run')


def test_run_config_follows_the_config():
    from library import config as config_lib
    from library.run_config import make_run_config
    _, config = config_lib.parse(['--config_file', os.path.join(ROOT, 'project.yaml'),
                                  '--config_set', 'thinkpadx201t', '--xla',
                                  '--save_checkpoints_steps', '50', '--intra_op_threads', '2'])
    run_config = make_run_config(config)
    assert run_config.tf_random_seed == 0
    assert run_config.save_checkpoints_steps == 50
    assert run_config.save_checkpoints_secs is None
    assert run_config.keep_checkpoint_max == config['keep_checkpoint_max']
    assert run_config.session_config.intra_op_parallelism_threads == 2
    assert run_config.session_config.graph_options.optimizer_options.global_jit_level == 1
    assert run_config.model_dir.endswith('runs/thinkpadx201t')
