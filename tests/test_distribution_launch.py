"""The local-cluster launcher with stand-in tasks: TF_CONFIG, log prefixes, exit codes, stopping."""
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from library import launch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A stand-in task: prints its TF_CONFIG, then acts as FAKE_TASKS says for its task type.
FAKE_TASK = textwrap.dedent('''
    import json, os, signal, sys, time
    settings = json.loads(os.environ['TF_CONFIG'])
    task = settings['task']
    print('config ' + json.dumps(settings), flush=True)
    action = json.loads(os.environ['FAKE_TASKS']).get(task['type'], 'succeed')
    if action == 'ignore_sigterm':
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if action in ('forever', 'ignore_sigterm'):
        while True:
            time.sleep(0.05)
    if action.startswith('exit'):
        sys.exit(int(action[4:]))
    time.sleep(0.3)
''')


@pytest.fixture
def fake_task(tmp_path):
    path = tmp_path / 'fake_task.py'
    path.write_text(FAKE_TASK)
    return str(path)


def launch_fake(fake_task, tasks, *launcher_arguments, timeout=60):
    environment = dict(os.environ, FAKE_TASKS=json.dumps(tasks))
    return subprocess.run(
        [sys.executable, '-m', 'library.launch'] + list(launcher_arguments) + ['--', fake_task],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout)


def configs_by_task(output):
    configs = {}
    for line in output.splitlines():
        match = re.match(r'^\[([\w:]+)\] config (.*)$', line)
        if match:
            configs[match.group(1)] = json.loads(match.group(2))
    return configs


def test_every_task_gets_its_tf_config_and_prefixed_log(fake_task):
    result = launch_fake(fake_task, {'ps': 'forever'}, '--workers', '3', '--ps', '1',
                         '--evaluator')
    assert result.returncode == 0, result.stdout + result.stderr
    configs = configs_by_task(result.stdout)
    assert sorted(configs) == ['chief', 'evaluator', 'ps:0', 'worker:0', 'worker:1']
    cluster = configs['chief']['cluster']
    assert sorted(cluster) == ['chief', 'ps', 'worker']
    addresses = cluster['chief'] + cluster['worker'] + cluster['ps']
    assert len(addresses) == 4 and len(set(addresses)) == 4
    assert all(address.startswith('localhost:') for address in addresses)
    for name, settings in configs.items():
        assert settings['cluster'] == cluster
        expected = name.split(':')[0], int(name.split(':')[1]) if ':' in name else 0
        assert (settings['task']['type'], settings['task']['index']) == expected
    assert 'training finished; stopping the ps tasks' in result.stdout
    assert 'ps:0 stopped by the launcher' in result.stdout


def test_exit_code_is_the_chiefs(fake_task):
    result = launch_fake(fake_task, {'chief': 'exit3'}, '--workers', '1')
    assert result.returncode == 3
    assert 'chief failed (exit code 3' in result.stdout


def test_a_failed_worker_stops_the_cluster(fake_task):
    started = time.monotonic()
    result = launch_fake(fake_task, {'chief': 'forever', 'ps': 'forever', 'worker': 'exit7'},
                         '--workers', '2', '--ps', '1')
    assert result.returncode == 1
    assert 'worker:0 failed (exit code 7' in result.stdout
    assert 'chief stopped by the launcher' in result.stdout
    assert time.monotonic() - started < 30


def test_a_task_ignoring_sigterm_is_killed(fake_task):
    result = launch_fake(fake_task, {'chief': 'ignore_sigterm', 'worker': 'exit5'},
                         '--workers', '2')
    assert result.returncode == 1
    assert 'chief ignored SIGTERM' in result.stdout


def test_workers_still_running_after_the_chief_are_stopped(fake_task):
    result = launch_fake(fake_task, {'worker': 'forever'}, '--workers', '2',
                         '--shutdown_timeout', '1')
    assert result.returncode == 1
    assert 'worker:0 still running 1 s after the chief finished' in result.stdout


def test_sigterm_stops_every_task(fake_task):
    environment = dict(os.environ, FAKE_TASKS=json.dumps({'chief': 'forever', 'worker': 'forever'}))
    process = subprocess.Popen(
        [sys.executable, '-m', 'library.launch', '--workers', '2', '--', fake_task],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids = started_pids(process, 2)
    process.send_signal(signal.SIGTERM)
    output = process.stdout.read()
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert 'received SIGTERM; stopping all tasks' in output
    assert len(pids) == 2
    assert all(wait_until_gone(pid, timeout=10) for pid in pids)


def test_run_py_gets_the_distribution_flags():
    command = launch.task_command(['run.py', '--config_set', 'demo'], ps=1, evaluator=True)
    assert command[:2] == [sys.executable, 'run.py']
    assert command[-4:] == ['--distribution', 'parameter_server', '--evaluator_task', 'true']
    command = launch.task_command(['run.py', '--distribution=auto'], ps=0, evaluator=False)
    assert command == [sys.executable, 'run.py', '--distribution=auto', '--evaluator_task',
                       'false']
    assert launch.task_command(['other.py'], ps=0, evaluator=True) == [sys.executable, 'other.py']


def test_command_is_required():
    result = subprocess.run([sys.executable, '-m', 'library.launch', '--workers', '2'],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert 'expected the command after --' in result.stderr


def test_a_command_that_cannot_start_is_reported():
    result = subprocess.run([sys.executable, '-m', 'library.launch', '--', 'no-such-program'],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 127
    assert 'cannot start no-such-program' in result.stdout


def started_pids(process, count):
    """Reads the launcher's output until `count` tasks printed their config; returns their pids."""
    pids, configs = [], 0
    for line in process.stdout:
        pids += [int(pid) for pid in re.findall(r'started \S+ \(pid (\d+)\)', line)]
        configs += ' config ' in line
        if configs == count:
            return pids
    raise AssertionError('the launcher ended before its tasks started')


def is_running(pid):
    """Whether process `pid` exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open('/proc/%d/stat' % pid) as stream:
            return stream.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return True


def wait_until_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='parent-death signal is Linux only')
def test_tasks_die_with_a_killed_launcher(fake_task):
    environment = dict(os.environ, FAKE_TASKS=json.dumps({'chief': 'ignore_sigterm',
                                                          'worker': 'forever'}))
    process = subprocess.Popen(
        [sys.executable, '-m', 'library.launch', '--workers', '2', '--', fake_task],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids = started_pids(process, 2)
    process.kill()
    process.wait(timeout=30)
    assert all(wait_until_gone(pid, timeout=10) for pid in pids)
