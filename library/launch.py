"""Runs a local TensorFlow cluster: every task its own process on loopback ports.

    python -m library.launch --workers 2 -- run.py --config_set demo
    python -m library.launch --workers 2 --ps 1 --evaluator -- run.py --config_set demo

The cluster has a chief plus `--workers - 1` further workers, `--ps` parameter servers and,
with `--evaluator`, an evaluator task (outside the cluster spec, as TensorFlow expects). Each
process gets its own TF_CONFIG; its output is streamed line by line with a `[chief]`,
`[worker:0]`, `[ps:0]` or `[evaluator]` prefix. When the command is run.py and does not set
them, the launcher adds `--distribution parameter_server` (with --ps) or `multi_worker`,
and `--evaluator_task true` with --evaluator (else false).

The launcher stops every task on Ctrl-C or SIGTERM, stops the ps tasks (which never exit by
themselves) once the chief and the workers are done, and stops the whole cluster as soon as
any task fails, so a dead worker never leaves the others waiting. Its exit code is the
chief's, or 1 when another task failed or did not finish.
"""
import argparse
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from library import console

LOOPBACK = 'localhost'
POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 5
PR_SET_PDEATHSIG = 1


class Task:
    """One process of the cluster: its TF_CONFIG role, its process and its log reader."""

    def __init__(self, task_type, index):
        self.task_type = task_type
        self.index = index
        self.process = None
        self.reader = None
        self.stopped_by_launcher = False

    @property
    def name(self):
        if self.task_type in ('chief', 'evaluator'):
            return self.task_type
        return '%s:%d' % (self.task_type, self.index)

    @property
    def trains(self):
        return self.task_type in ('chief', 'worker')

    @property
    def returncode(self):
        return self.process.poll()

    def failed(self):
        code = self.returncode
        return code is not None and code != 0 and not self.stopped_by_launcher


def free_ports(count):
    """Returns `count` distinct free TCP ports on the loopback interface."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(('127.0.0.1', 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def cluster_spec(workers, ps, ports):
    """Returns the TF_CONFIG cluster: one chief, workers - 1 workers and `ps` ps tasks."""
    addresses = ['%s:%d' % (LOOPBACK, port) for port in ports]
    cluster = {'chief': addresses[:1]}
    if workers > 1:
        cluster['worker'] = addresses[1:workers]
    if ps:
        cluster['ps'] = addresses[workers:workers + ps]
    return cluster


def make_tasks(workers, ps, evaluator):
    """Returns the tasks in start order: ps first, so the trainers find them listening."""
    tasks = [Task('ps', index) for index in range(ps)]
    tasks.append(Task('chief', 0))
    tasks.extend(Task('worker', index) for index in range(workers - 1))
    if evaluator:
        tasks.append(Task('evaluator', 0))
    return tasks


def has_flag(command, flag):
    return any(argument == flag or argument.startswith(flag + '=') for argument in command)


def task_command(command, ps, evaluator):
    """Returns the command each task runs: the Python interpreter for a .py script, run.py flags."""
    command = list(command)
    if command[0].endswith('.py'):
        command.insert(0, sys.executable)
    script = next((part for part in command if part.endswith('.py')), '')
    if os.path.basename(script) == 'run.py':
        if not has_flag(command, '--distribution'):
            command += ['--distribution', 'parameter_server' if ps else 'multi_worker']
        if not has_flag(command, '--evaluator_task'):
            command += ['--evaluator_task', 'true' if evaluator else 'false']
    return command


def die_with_parent():
    """Runs in the child before exec: on Linux, the child is killed if the launcher dies.

    SIGKILL, because a MultiWorkerMirrored task catches SIGTERM and would live on.
    """
    if sys.platform.startswith('linux'):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Launcher:
    """Starts the tasks, streams their output and stops them together."""

    def __init__(self, command, workers, ps, evaluator, shutdown_timeout, out=None):
        self.command = task_command(command, ps, evaluator)
        self.tasks = make_tasks(workers, ps, evaluator)
        self.cluster = cluster_spec(workers, ps, free_ports(workers + ps))
        self.shutdown_timeout = shutdown_timeout
        self.out = out or sys.stdout
        self.lock = threading.Lock()
        self.received_signal = None

    def say(self, text):
        self.write_line('[launch] ' + text + '\n')

    def write_line(self, line):
        with self.lock:
            self.out.write(line)
            self.out.flush()

    def stream(self, task):
        """Copies the task's output to ours, one prefixed line at a time."""
        prefix = '[%s] ' % task.name
        for raw in iter(task.process.stdout.readline, b''):
            self.write_line(prefix + raw.decode('utf-8', 'replace').rstrip('\n') + '\n')
        task.process.stdout.close()

    def start(self, task):
        environment = dict(os.environ)
        environment['TF_CONFIG'] = json.dumps({
            'cluster': self.cluster, 'task': {'type': task.task_type, 'index': task.index}})
        environment['PYTHONUNBUFFERED'] = '1'
        task.process = subprocess.Popen(
            self.command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)
        task.reader = threading.Thread(target=self.stream, args=(task,), daemon=True)
        task.reader.start()
        self.say('started %s (pid %d)' % (task.name, task.process.pid))

    def stop(self, tasks):
        """Sends SIGTERM to the tasks' process groups, then SIGKILL to those still alive."""
        running = [task for task in tasks if task.returncode is None]
        for task in running:
            task.stopped_by_launcher = True
            self.signal_group(task, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline and any(task.returncode is None for task in running):
            time.sleep(POLL_SECONDS)
        for task in running:
            if task.returncode is None:
                self.say('%s ignored SIGTERM for %d s; killing it' % (task.name, STOP_GRACE_SECONDS))
                self.signal_group(task, signal.SIGKILL)
                task.process.wait()

    @staticmethod
    def signal_group(task, signal_number):
        try:
            os.killpg(task.process.pid, signal_number)
        except ProcessLookupError:
            pass

    def on_signal(self, signal_number, frame):
        self.received_signal = signal_number

    def run(self):
        """Runs the cluster to the end; returns the launcher's exit code."""
        self.say('cluster %s; command: %s' % (json.dumps(self.cluster), ' '.join(self.command)))
        previous = {number: signal.signal(number, self.on_signal)
                    for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            for task in self.tasks:
                self.start(task)
            code = self.supervise()
        except OSError as error:
            self.say('cannot start %s: %s' % (' '.join(self.command), error))
            code = 127
        finally:
            self.stop([task for task in self.tasks if task.process is not None])
            for task in self.tasks:
                if task.reader is not None:
                    task.reader.join(timeout=STOP_GRACE_SECONDS)
            for number, handler in previous.items():
                signal.signal(number, handler)
        started = [task for task in self.tasks if task.process is not None]
        if started:
            self.say('exit codes: %s' % ', '.join(
                '%s %s' % (task.name, describe_exit(task)) for task in started))
        return code

    def supervise(self):
        """Waits for the tasks; returns the exit code once the run ended or failed."""
        chief = next(task for task in self.tasks if task.task_type == 'chief')
        trainers = [task for task in self.tasks if task.trains]
        others = [task for task in self.tasks if task.task_type == 'evaluator']
        training_done_at = None
        while True:
            if self.received_signal is not None:
                name = signal.Signals(self.received_signal).name
                self.say('received %s; stopping all tasks' % name)
                return 128 + self.received_signal
            failed = next((task for task in self.tasks if task.failed()), None)
            if failed is not None:
                hint = '; its [%s] lines above say why' % failed.name if (
                    failed.returncode > 0) else ''
                self.say('%s failed (%s%s); stopping the other tasks' % (
                    failed.name, describe_exit(failed), hint))
                return exit_code(chief.returncode) if failed is chief else 1
            early_ps = next((task for task in self.tasks if task.task_type == 'ps'
                             and task.returncode is not None), None)
            if early_ps is not None:
                self.say('%s exited (%s) while training was running; stopping the other tasks' % (
                    early_ps.name, describe_exit(early_ps)))
                return 1
            if training_done_at is None and chief.returncode is not None:
                training_done_at = time.monotonic()
            if training_done_at is not None:
                if all(task.returncode is not None for task in trainers + others):
                    self.say('training finished' + ('; stopping the ps tasks' if any(
                        task.task_type == 'ps' for task in self.tasks) else ''))
                    return exit_code(chief.returncode)
                if time.monotonic() - training_done_at > self.shutdown_timeout:
                    late = [task.name for task in trainers + others if task.returncode is None]
                    self.say('%s still running %d s after the chief finished; stopping the '
                             'cluster' % (', '.join(late), self.shutdown_timeout))
                    return 1
            time.sleep(POLL_SECONDS)


def exit_code(returncode):
    """Maps a child's return code to a shell exit code (128 + signal for a killed child)."""
    return 128 - returncode if returncode < 0 else returncode


def describe_exit(task):
    """Returns 'exit code N', 'killed by SIGKILL', 'stopped by the launcher' or 'running'."""
    code = task.returncode
    if code is None:
        return 'running'
    if task.stopped_by_launcher:
        return 'stopped by the launcher (%s)' % ('exit code 0' if code == 0 else 'signal')
    if code < 0:
        return 'killed by %s' % signal.Signals(-code).name
    return 'exit code %d' % code


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog='python -m library.launch', description=__doc__.split('\n')[0],
        usage='%(prog)s --workers N [--ps M] [--evaluator] -- run.py [run.py arguments]')
    parser.add_argument('--workers', type=int, default=2,
                        help='training tasks: the chief plus N-1 workers (default 2)')
    parser.add_argument('--ps', type=int, default=0,
                        help='parameter-server tasks (default 0: MultiWorkerMirrored training)')
    parser.add_argument('--evaluator', action='store_true',
                        help='add an evaluator task that evaluates checkpoints as they appear')
    parser.add_argument('--shutdown_timeout', type=float, default=300,
                        help='seconds the workers and the evaluator may run on after the chief '
                             'finished before the launcher stops them (default 300)')
    parser.add_argument(console.VERBOSE_FLAG, action='store_true',
                        help=console.VERBOSE_HELP + '; applies to every task')
    split = argv.index('--') if '--' in argv else len(argv)
    args = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    if not command:
        parser.error('expected the command after --, e.g. -- run.py --config_set demo')
    if args.workers < 1:
        parser.error('--workers must be at least 1 (the chief), got %d' % args.workers)
    if args.ps < 0:
        parser.error('--ps must be 0 or more, got %d' % args.ps)
    return args, command


def main(argv=None):
    args, command = parse_arguments(sys.argv[1:] if argv is None else list(argv))
    console.configure(args.verbose or console.verbose_requested([]))  # the tasks inherit it
    launcher = Launcher(command, args.workers, args.ps, args.evaluator, args.shutdown_timeout)
    return launcher.run()


if __name__ == '__main__':
    sys.exit(main())
