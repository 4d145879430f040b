"""The packaging conventions: pyproject.toml, the lock, the changelog, the Makefile's Python search, the image."""
import os
import re
import shutil
import stat
import subprocess

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip('tomllib')  # Python 3.11+; CI and the default venv are 3.11

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(name):
    with open(os.path.join(ROOT, name)) as stream:
        return stream.read()


def pyproject():
    return tomllib.loads(read('pyproject.toml'))


def requirements(name):
    """The requirement lines of a requirements file, without comments and -r includes."""
    lines = [line.split('#')[0].strip() for line in read(name).splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith('-')]


def lock():
    """{canonical name: version} of requirements.lock; every line must be an exact PyPI pin."""
    pins = {}
    for line in read('requirements.lock').splitlines():
        if not line or line.startswith('#'):
            continue
        match = re.fullmatch(r'([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][0-9A-Za-z.+!-]*)', line)
        assert match, f'requirements.lock: {line!r} is not NAME==VERSION'
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def test_runtime_dependencies_are_read_from_requirements_txt():
    project = pyproject()
    assert 'dependencies' in project['project']['dynamic']
    assert 'dependencies' not in project['project']
    assert project['tool']['setuptools']['dynamic']['dependencies'] == {'file': ['requirements.txt']}
    lines = [line for line in read('requirements.txt').splitlines() if line and not line.startswith('#')]
    assert not [line for line in lines if line.startswith('-')], 'setuptools reads no pip options'
    assert len(requirements('requirements.txt')) == len(lines) > 0


def test_dev_extra_is_requirements_dev_txt():
    dev = [str(Requirement(line)) for line in pyproject()['project']['optional-dependencies']['dev']]
    assert dev == [str(r) for r in requirements('requirements-dev.txt')]
    assert read('requirements-dev.txt').splitlines()[0] == '-r requirements.txt'


def test_extras_and_metadata():
    project = pyproject()['project']
    extras = project['optional-dependencies']
    assert extras['gpu'] == ['tensorflow[and-cuda]==2.15.1']
    assert [Requirement(r).name for r in extras['io']] == ['tensorflow-io']
    assert [Requirement(r).name for r in extras['profile']] == ['tensorboard-plugin-profile']
    assert project['license'] == 'Apache-2.0'
    assert project['requires-python'] == '>=3.9,<3.12'
    assert 'Apache License' in read('LICENSE') and 'Version 2.0, January 2004' in read('LICENSE')


def test_lock_satisfies_every_requirement_exactly():
    pins = lock()
    for requirement in requirements('requirements.txt') + requirements('requirements-dev.txt'):
        name = canonicalize_name(requirement.name)
        assert name in pins, f'requirements.lock lacks {requirement.name}: run make lock'
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f'requirements.lock pins {name}=={pins[name]}, outside {requirement}: run make lock')
    assert 'pip' not in pins


def test_environment_yaml_and_dockerfile_install_the_lock():
    pip_sections = [item['pip'] for item in yaml.safe_load(read('environment.yaml'))['dependencies']
                    if isinstance(item, dict)]
    assert pip_sections == [['-r requirements.lock']]
    dockerfile = read('Dockerfile')
    assert re.search(r'^FROM python:3\.11-slim\b', dockerfile, re.M)
    assert re.search(r'^RUN .*pip install .*-r requirements\.lock', dockerfile, re.M)
    assert dockerfile.rstrip().splitlines()[-1] == 'ENTRYPOINT ["python", "run.py"]'
    ignored = read('.dockerignore').split()
    for folder in ('.git', '.venv', 'runs', 'dataset'):
        assert folder in ignored, folder


def test_kubernetes_example_runs_the_image_of_this_version():
    project = pyproject()['project']
    image = f"{project['name']}:{project['version']}"
    assert f'docker build -t {image} .' in read('Dockerfile')
    containers = []
    for document in yaml.safe_load_all(read('deploy/kubernetes-example.yaml')):
        spec = document['spec']
        templates = ([replica['template'] for replica in spec['tfReplicaSpecs'].values()]
                     if document['kind'] == 'TFJob' else [spec['template']] if document['kind'] == 'Job' else [])
        containers += [c for template in templates for c in template['spec']['containers']]
    assert len(containers) == 5
    for container in containers:
        assert container['image'].endswith(image), container['image']
        assert 'command' not in container, 'the image entry point runs run.py; give args'
        assert container['args'][:2] == ['--config_set', 'demo']


def test_changelog_has_the_pyproject_version():
    versions = re.findall(r'^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$', read('CHANGELOG.md'), re.M)
    assert versions and versions[0] == pyproject()['project']['version']


def test_make_test_lints_before_pytest(tmp_path):
    make = shutil.which('make') or pytest.skip('make is not installed')
    result = subprocess.run([make, '-n', '-C', ROOT, 'test', f'VENV={tmp_path / "venv"}'],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    lint = [i for i, line in enumerate(lines) if '-m ruff check .' in line]
    tests = [i for i, line in enumerate(lines) if '-m pytest' in line]
    assert lint and tests and lint[0] < tests[0]


def fake_tools(folder, **scripts):
    """Executable shell scripts in folder, named by the keyword, with the value as body."""
    folder.mkdir()
    for name, body in scripts.items():
        path = folder / name.replace('_', '.')
        path.write_text('#!/bin/sh\n' + body + '\n')
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def make_venv(path, venv):
    make = shutil.which('make') or pytest.skip('make is not installed')
    return subprocess.run([make, '-C', ROOT, 'venv', f'VENV={venv}'], env={'PATH': str(path)},
                          capture_output=True, text=True, timeout=60)


def test_make_venv_without_python_3_11_or_uv_names_the_ways_to_get_it(tmp_path):
    unsupported = 'echo "Python 3.12.3"; exit 1'
    path = fake_tools(tmp_path / 'bin', python3=unsupported, python3_12=unsupported)
    result = make_venv(path, tmp_path / 'venv')
    assert result.returncode != 0
    assert 'need Python 3.9, 3.10 or 3.11' in result.stderr
    for way in ('uv python install 3.11', 'pyenv install 3.11', 'conda env create -f environment.yaml'):
        assert way in result.stderr, way
    assert not (tmp_path / 'venv').exists()


def test_make_venv_uses_uv_when_no_python_fits(tmp_path):
    calls = tmp_path / 'uv-calls'
    path = fake_tools(tmp_path / 'bin', python3='exit 1', uv=f'echo "$@" >> {calls}; exit 3')
    result = make_venv(path, tmp_path / 'venv')
    assert result.returncode != 0
    assert calls.read_text().split() == ['venv', '--seed', '--python', '3.11', str(tmp_path / 'venv')]


FAKE_PYTHON = """
# A fake Python {version}: it passes make's 3.9-3.11 check, `-m venv DIR` copies it to DIR/bin/python,
# `-m pip ...` records its arguments.
case "$*" in
  '-m venv '*) {mkdir} -p "$3/bin" && {cp} "$0" "$3/bin/python" ;;
  '-m pip '*) echo "$@" >> {log} ;;
  *'(3, 9) <= sys.version_info'*) exit 0 ;;
  *'!= (3, 11)'*) [ {version} = 3.11 ] ;;
  *) exit 9 ;;
esac
"""


@pytest.mark.parametrize('version, installed', [('3.11', 'requirements.lock'), ('3.10', 'requirements-dev.txt')])
def test_make_venv_installs_the_lock_on_python_3_11_and_the_ranges_otherwise(tmp_path, version, installed):
    log = tmp_path / 'pip-calls'
    body = FAKE_PYTHON.format(version=version, log=log, mkdir=shutil.which('mkdir'), cp=shutil.which('cp'))
    path = fake_tools(tmp_path / 'bin', **{f'python{version}'.replace('.', '_'): body})
    os.symlink(shutil.which('touch'), path / 'touch')
    result = make_venv(path, tmp_path / 'venv')
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls[-1] == f'-m pip install --quiet -r {installed}'
    assert (tmp_path / 'venv' / '.installed').exists()
