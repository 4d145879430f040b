"""Which code made a run: the git commit of the project (and whether it had uncommitted changes)
and the versions of Python, TensorFlow and NumPy."""
import os
import platform
import subprocess

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def git_output(*arguments):
    """Returns the stdout of `git arguments` in the project folder, or None when git fails."""
    try:
        result = subprocess.run(['git', '-C', PROJECT_ROOT] + list(arguments), capture_output=True,
                                text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def git_state():
    """Returns 'git commit HASH', with ' (dirty: uncommitted changes)' when tracked files differ."""
    commit = git_output('rev-parse', 'HEAD')
    if commit is None:
        return 'git commit: unknown (%s is not a git checkout, or git is missing)' % PROJECT_ROOT
    dirty = git_output('status', '--porcelain', '--untracked-files=no')
    return 'git commit %s%s' % (commit, ' (dirty: uncommitted changes)' if dirty else '')


def versions():
    """Returns 'Python X, TensorFlow Y, NumPy Z'."""
    import numpy
    import tensorflow as tf
    return 'Python %s, TensorFlow %s, NumPy %s' % (platform.python_version(), tf.__version__,
                                                   numpy.__version__)


def describe():
    """Returns the provenance lines written at the head of a run's config.yaml."""
    return [git_state(), versions()]
