"""One run per model_dir; a lock left by a dead process is taken over."""
import json
import os
import signal
import subprocess
import sys

import pytest

from library import run_lock
from library.config import ConfigError
from library.run_lock import LOCK_NAME, RunLock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def write_lock(folder, **owner):
    import socket
    record = {'host': socket.gethostname(), 'started': 'earlier',
              'process_start': run_lock.process_start(owner['pid']), 'boot_id': run_lock.boot_id()}
    record.update(owner)
    (folder / LOCK_NAME).write_text(json.dumps(record))


@pytest.mark.parametrize('holder', ['this_process', 'pid_1'])
def test_lock_of_a_recycled_pid_is_taken_over_with_one_line(tmp_path, capsys, holder):
    """A restarted container is PID 1 again; after a reboot another process can hold the PID."""
    pid = os.getpid() if holder == 'this_process' else 1
    write_lock(tmp_path, pid=pid, process_start=run_lock.process_start(pid) + 1)
    with RunLock(str(tmp_path)) as lock:
        assert json.loads((tmp_path / LOCK_NAME).read_text()) == lock.owner
    assert capsys.readouterr().err == (
        'taking over %s: stale lock of process %d on %s since earlier (PID %d now belongs to '
        'another process)\n' % (tmp_path / LOCK_NAME, pid, os.uname().nodename, pid))


def test_lock_from_before_a_reboot_is_taken_over(tmp_path, capsys):
    write_lock(tmp_path, pid=1, boot_id='00000000-0000-0000-0000-000000000000')
    with RunLock(str(tmp_path)):
        pass
    assert capsys.readouterr().err.endswith('(the machine restarted since)\n')
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_of_a_live_process_is_refused_with_one_line(tmp_path):
    holder = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        write_lock(tmp_path, pid=holder.pid)
        with pytest.raises(ConfigError) as error:
            RunLock(str(tmp_path)).acquire()
    finally:
        holder.kill()
        holder.wait()
    assert 'in use by process %d' % holder.pid in str(error.value)
    assert '\n' not in str(error.value)
    assert (tmp_path / LOCK_NAME).exists()


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_release_the_lock(tmp_path, signum):
    code = ('import sys, time\n'
            'from library.run_lock import RunLock\n'
            'with RunLock(sys.argv[1]):\n'
            '    print("held", flush=True)\n'
            '    time.sleep(60)\n')
    holder = subprocess.Popen([sys.executable, '-c', code, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert holder.stdout.readline() == 'held\n'
    assert (tmp_path / LOCK_NAME).exists()
    holder.send_signal(signum)
    _, stderr = holder.communicate(timeout=60)
    assert not (tmp_path / LOCK_NAME).exists()
    assert holder.returncode == 1 and 'Stopped: %s' % signal.Signals(signum).name in stderr
