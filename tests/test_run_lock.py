"""One run per model_dir; a lock left by a dead process is taken over."""
import json
import subprocess
import sys

import pytest

from library.config import ConfigError
from library.run_lock import LOCK_NAME, RunLock


def test_second_run_on_the_same_model_dir_is_refused(tmp_path):
    with RunLock(str(tmp_path)):
        with pytest.raises(ConfigError) as error:
            RunLock(str(tmp_path)).acquire()
    assert 'in use by process' in str(error.value)
    assert str(tmp_path) in str(error.value)
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True, check=True)
    import socket
    (tmp_path / LOCK_NAME).write_text(json.dumps(
        {'host': socket.gethostname(), 'pid': int(dead.stdout), 'started': 'earlier'}))
    with RunLock(str(tmp_path)) as lock:
        assert json.loads((tmp_path / LOCK_NAME).read_text()) == lock.owner


def test_lock_held_on_another_host_is_not_taken(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({'host': 'elsewhere', 'pid': 1, 'started': 'x'}))
    with pytest.raises(ConfigError, match='on elsewhere'):
        RunLock(str(tmp_path)).acquire()


def test_lock_works_on_in_memory_file_system():
    with RunLock('ram://lock_test/model'):
        with pytest.raises(ConfigError):
            RunLock('ram://lock_test/model').acquire()
