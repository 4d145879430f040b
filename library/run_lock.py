"""One run per model_dir: a lock file that a killed process cannot leave stale.

The lock records the owner's host and PID. A second run on the same model_dir
refuses with a message naming them; a lock whose owner is gone (same host,
process no longer alive) is taken over. The lock creates model_dir when it is
missing, and a run that then ends with a ConfigError before any checkpoint was
written removes what it created, so a config error leaves nothing behind.
"""
import json
import os
import socket
import time

import tensorflow as tf

from library import files
from library.config import ConfigError

LOCK_NAME = 'run.lock'


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_gone(owner):
    return owner.get('host') == socket.gethostname() and not _process_alive(int(owner.get('pid', 0)))


def _read_owner(path):
    try:
        with tf.io.gfile.GFile(path, 'r') as stream:
            return json.loads(stream.read())
    except (tf.errors.NotFoundError, ValueError):
        return None


def _first_missing_folder(folder):
    """Returns the outermost folder that creating `folder` would create, or None when it exists."""
    missing = None
    while folder and not tf.io.gfile.exists(folder):
        missing = folder
        parent = files.split(folder)[0]
        if parent == folder or not files.is_local(folder):
            break
        folder = parent
    return missing


def _create_exclusive(path, text):
    """Creates `path` holding `text`; returns False if it already exists."""
    if '://' in path:
        if tf.io.gfile.exists(path):
            return False
        with tf.io.gfile.GFile(path, 'w') as stream:
            stream.write(text)
        return True
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, 'w') as stream:
        stream.write(text)
    return True


class RunLock:
    """Context manager holding `<model_dir>/run.lock` for the life of a run."""

    def __init__(self, model_dir):
        self.path = os.path.join(model_dir, LOCK_NAME)
        self.owner = {'host': socket.gethostname(), 'pid': os.getpid(),
                      'started': time.strftime('%Y-%m-%dT%H:%M:%S')}
        self.created = None

    def acquire(self):
        self.created = _first_missing_folder(os.path.dirname(self.path))
        tf.io.gfile.makedirs(os.path.dirname(self.path))
        text = json.dumps(self.owner)
        for _ in range(2):
            if _create_exclusive(self.path, text):
                return self
            owner = _read_owner(self.path)
            if owner is not None and not _owner_gone(owner):
                raise ConfigError(
                    '%s is in use by process %s on %s since %s; stop that run first '
                    '(or delete %s if that process is gone)' % (
                        os.path.dirname(self.path), owner.get('pid'), owner.get('host'),
                        owner.get('started'), self.path))
            tf.io.gfile.remove(self.path)
        raise ConfigError('%s: could not take the run lock' % self.path)

    def release(self):
        owner = _read_owner(self.path)
        if owner == self.owner:
            tf.io.gfile.remove(self.path)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, exc_type, exc_value, traceback):
        self.release()
        config_error = exc_type is not None and issubclass(exc_type, ConfigError)
        if config_error and self.created and not tf.train.latest_checkpoint(os.path.dirname(self.path)):
            files.remove(self.created)
