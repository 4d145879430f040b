"""One run per model_dir: a lock file that a killed process cannot leave stale.

The lock records the owner's host, PID, the PID's start time (field 22 of
/proc/PID/stat) and the machine's boot id. A second run on the same model_dir
refuses with a message naming them. On the same host a lock is stale, and
taken over with one line saying so, when its process is gone, when the machine
rebooted since (another boot id), or when its PID now belongs to another
process (another start time: a restarted container is PID 1 again). SIGTERM
and SIGINT release the lock (library/stop_signals.py). The lock creates
model_dir when it is missing, and a run that then ends with a ConfigError
before any checkpoint was written removes what it created, so a config error
leaves nothing behind.
"""
import contextlib
import json
import os
import socket
import sys
import time

import tensorflow as tf

from library import checkpoints, files, stop_signals
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


def _read_text(path):
    try:
        with open(path) as stream:
            return stream.read()
    except OSError:
        return None


def process_start(pid):
    """Returns the start time of process `pid` in clock ticks since boot (None: unknown)."""
    text = _read_text('/proc/%d/stat' % pid)
    if not text:
        return None
    fields = text[text.rindex(')') + 2:].split()  # the command name may hold spaces
    return int(fields[19])  # field 22; fields[0] is field 3


def boot_id():
    """Returns this machine's boot id (None: unknown)."""
    text = _read_text('/proc/sys/kernel/random/boot_id')
    return text.strip() if text else None


def stale_reason(owner):
    """Returns why the lock of `owner` is stale (its process is gone), or None while it may run."""
    if owner.get('host') != socket.gethostname():
        return None
    pid = int(owner.get('pid', 0))
    if not _process_alive(pid):
        return 'process %d is gone' % pid
    if owner.get('boot_id') and boot_id() and owner['boot_id'] != boot_id():
        return 'the machine restarted since'
    if owner.get('process_start') is not None and process_start(pid) is not None \
            and owner['process_start'] != process_start(pid):
        return 'PID %d now belongs to another process' % pid
    return None


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
    # Written in full under a temporary name, then hard-linked into place (which fails if the lock
    # exists): another process never reads a lock file that is empty or half-written.
    temporary = files.temporary_sibling(path)
    with open(temporary, 'w') as stream:
        stream.write(text)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        os.remove(temporary)
    return True


class RunLock:
    """Context manager holding `<model_dir>/run.lock` for the life of a run.

    `lock_name` and `what` (named in the refusal; default: the folder) let the
    same lock guard other outputs, such as a conversion's output name.
    """

    def __init__(self, model_dir, lock_name=LOCK_NAME, what=None):
        self.path = os.path.join(model_dir, lock_name)
        self.what = what or model_dir
        self.owner = {'host': socket.gethostname(), 'pid': os.getpid(),
                      'started': time.strftime('%Y-%m-%dT%H:%M:%S'),
                      'process_start': process_start(os.getpid()), 'boot_id': boot_id()}
        self.signals = None
        self.created = None

    def acquire(self):
        self.created = _first_missing_folder(os.path.dirname(self.path))
        tf.io.gfile.makedirs(os.path.dirname(self.path))
        text = json.dumps(self.owner)
        for _ in range(2):
            if _create_exclusive(self.path, text):
                return self
            owner = _read_owner(self.path)
            reason = stale_reason(owner) if owner is not None else 'it is unreadable'
            if reason is None:
                raise ConfigError(
                    '%s is in use by process %s on %s since %s; stop that run first '
                    '(or delete %s if that process is gone)' % (
                        self.what, owner.get('pid'), owner.get('host'),
                        owner.get('started'), self.path))
            sys.stderr.write('taking over %s: %s\n' % (self.path, reason if owner is None else
                             'stale lock of process %s on %s since %s (%s)' % (
                                 owner.get('pid'), owner.get('host'), owner.get('started'), reason)))
            tf.io.gfile.remove(self.path)
        raise ConfigError('%s: could not take the run lock' % self.path)

    def release(self):
        owner = _read_owner(self.path)
        if owner == self.owner:
            tf.io.gfile.remove(self.path)

    def __enter__(self):
        """Holds the lock; until __exit__, SIGTERM and SIGINT raise Stopped so it is released."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(stop_signals.raised_as_stopped())
            self.acquire()
            self.signals = stack.pop_all()
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        try:
            self.release()
            config_error = exc_type is not None and issubclass(exc_type, ConfigError)
            if config_error and self.created and not checkpoints.has_checkpoint(os.path.dirname(self.path)):
                files.remove(self.created)
        finally:
            self.signals.close()
