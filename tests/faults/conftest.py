"""Helpers of the fault-injection tests: run.py and convert_dataset.py in real subprocesses.

Every subprocess runs under a timeout; its output goes to files that the tests poll, so
a test can kill it at a chosen moment (after a progress line, or from inside through
tests/faults/fault_runner.py).
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from library import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 120
TRAIN_EXAMPLES = 60  # the shapes_tfrecords training set: 3 classes x 20


def tiny_flags(data, model_dir, **overrides):
    """Returns run.py flags for a very small cnn (16x16 images, batch 4) on `data`'s files."""
    flags = {
        'config_file': os.path.join(ROOT, 'project.yaml'),
        'model': 'cnn', 'model_dir': model_dir,
        'train_files': data['train_files'], 'eval_files': data['eval_files'],
        'image_size': 16, 'cnn_filters': '[4, 8]', 'train_batch_size': 4,
        'eval_batch_size': 8, 'max_eval_steps': 1, 'train_epochs': 2,
        'epochs_between_evals': 1, 'learning_rate': 0.01, 'dropout_rate': 0.0,
        'shuffle_buffer': 16, 'random_seed': 0, 'save_checkpoints_steps': 5,
        'save_summary_steps': 1000, 'log_step_count_steps': 1, 'keep_checkpoint_max': 3,
        'best_metric': 'loss', 'best_mode': 'min', 'keep_best_max': 2,
    }
    flags.update(overrides)
    return config_lib.to_flags(flags)


class Tool:
    """A run.py or convert_dataset.py subprocess whose stdout and stderr go to files."""

    def __init__(self, tool, argv, folder, fault=None, file_size_limit=None):
        os.makedirs(folder, exist_ok=True)
        count = len([name for name in os.listdir(folder) if name.endswith('.out')])
        self.stdout_path = os.path.join(folder, '%s-%d.out' % (tool, count))
        self.stderr_path = os.path.join(folder, '%s-%d.err' % (tool, count))
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONUNBUFFERED='1',
                   CUDA_VISIBLE_DEVICES='', PYTHONPATH=ROOT)
        env.pop('FAULT', None)
        if fault:
            env['FAULT'] = json.dumps(fault)
        with open(self.stdout_path, 'w') as stdout, open(self.stderr_path, 'w') as stderr:
            self.process = subprocess.Popen(
                [sys.executable, '-m', 'tests.faults.fault_runner', tool] + list(argv),
                cwd=ROOT, env=env, stdout=stdout, stderr=stderr,
                preexec_fn=limit_file_size(file_size_limit))
        self.started = time.time()

    @property
    def stdout(self):
        with open(self.stdout_path) as stream:
            return stream.read()

    @property
    def stderr(self):
        with open(self.stderr_path) as stream:
            return stream.read()

    def wait_for(self, pattern, timeout=TIMEOUT):
        """Waits until stdout or stderr matches `pattern`; returns the match."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            match = re.search(pattern, self.stdout) or re.search(pattern, self.stderr)
            if match:
                return match
            if self.process.poll() is not None:
                match = re.search(pattern, self.stdout) or re.search(pattern, self.stderr)
                if match:
                    return match
                raise AssertionError('exited with %s before printing %r:\n%s\n%s' % (
                    self.process.returncode, pattern, self.stdout[-3000:], self.stderr[-3000:]))
            time.sleep(0.05)
        self.kill()
        raise AssertionError('no %r within %d s' % (pattern, timeout))

    def wait(self, timeout=TIMEOUT):
        """Waits for the exit (killing the process after `timeout` s); returns the exit code."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError('still running after %d s:\n%s\n%s' % (
                timeout, self.stdout[-3000:], self.stderr[-3000:])) from None

    def kill(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        return self.process.returncode

    def describe(self):
        return 'exit %s\n--- stdout\n%s\n--- stderr\n%s' % (
            self.process.returncode, self.stdout[-4000:], self.stderr[-4000:])


def limit_file_size(limit):
    """Returns a preexec_fn that caps the size of every file the child writes (None: no cap).

    SIGXFSZ is ignored, so a write past the cap fails with EFBIG like a full disk
    instead of killing the process.
    """
    if limit is None:
        return None

    def apply_limit():
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply_limit


@pytest.fixture
def tool(tmp_path):
    """Starts tools (see Tool) and kills any still running when the test ends."""
    started = []

    def start(name, argv, **options):
        started.append(Tool(name, argv, str(tmp_path / 'logs'), **options))
        return started[-1]
    yield start
    for process in started:
        process.kill()


def run_to_end(start, name, argv, **options):
    """Runs a tool to its end; returns the Tool."""
    process = start(name, argv, **options)
    process.wait()
    return process


def checkpoint_steps(model_dir):
    """Returns the sorted global steps of the complete checkpoints in `model_dir` (.index present)."""
    return sorted(int(re.search(r'-(\d+)\.index$', name).group(1))
                  for name in os.listdir(model_dir) if re.match(r'model\.ckpt-\d+\.index$', name))


def latest_step(model_dir):
    """Returns the global step of the checkpoint TensorFlow restores from `model_dir`."""
    checkpoint = tf.train.latest_checkpoint(model_dir)
    return int(tf.train.load_variable(checkpoint, 'global_step')) if checkpoint else 0


def read_best(model_dir):
    with open(os.path.join(model_dir, 'best', 'best.json')) as stream:
        return json.load(stream)


def assert_best_snapshot_consistent(model_dir, keep_best_max=None):
    """best.json names complete snapshots whose global step is the recorded one; returns the record."""
    best_dir = os.path.join(model_dir, 'best')
    record = read_best(model_dir)
    assert record['checkpoint'] == record['snapshots'][0]['checkpoint']
    for entry in record['snapshots']:
        prefix = os.path.join(best_dir, entry['checkpoint'])
        assert int(tf.train.load_variable(prefix, 'global_step')) == entry['global_step']
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    snapshot_folders = [name for name in os.listdir(best_dir) if name.startswith('step-')]
    assert sorted(snapshot_folders) == sorted(
        os.path.dirname(entry['checkpoint']) for entry in record['snapshots'])
    if keep_best_max is not None:
        assert len(record['snapshots']) <= keep_best_max
    return record


def final_step(stdout):
    """Returns the global step of the 'final evaluation:' line of run.py's output."""
    return int(re.search(r'final evaluation: global_step (\d+)', stdout).group(1))


def run_in_process(argv, capfd):
    """Runs run.py's main(argv) in this process; returns (exit code, stdout, stderr)."""
    import run
    capfd.readouterr()
    try:
        code = run.main(argv)
    except SystemExit as exit_:  # argparse's way of refusing a flag
        code = exit_.code
    out, err = capfd.readouterr()
    return code, out, err
