"""Real distributed training of the demo cnn on CPU: mirrored replicas and local clusters."""
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 6

pytestmark = pytest.mark.slow


def run_flags(shapes_tfrecords, *extra):
    """Flags of a tiny demo run: 32x32 images, global batch 8, STEPS steps, checkpoint every 3."""
    return ['--config_file', os.path.join(ROOT, 'project.yaml'), '--config_set', 'demo',
            '--train_files', shapes_tfrecords['train_files'],
            '--eval_files', shapes_tfrecords['eval_files'],
            '--image_size', '32', '--train_batch_size', '8', '--eval_batch_size', '8',
            '--max_train_steps', str(STEPS), '--save_checkpoints_steps', '3',
            '--log_step_count_steps', '1'] + [str(flag) for flag in extra]


def global_step(checkpoint):
    return int(tf.train.load_variable(checkpoint, 'global_step'))


def read_best(model_dir):
    with open(os.path.join(model_dir, 'best', 'best.json')) as stream:
        return json.load(stream)


def assert_one_consistent_run(model_dir):
    """The final checkpoint is at STEPS, best.json names one complete snapshot and metrics.jsonl records
    the evaluations."""
    model_dir = str(model_dir)
    assert global_step(tf.train.latest_checkpoint(model_dir)) == STEPS
    best = read_best(model_dir)
    snapshot = os.path.join(model_dir, 'best', best['checkpoint'])
    assert global_step(snapshot) == best['global_step']
    assert [name for name in os.listdir(os.path.join(model_dir, 'best'))
            if name.startswith('step-')] == [os.path.dirname(best['checkpoint'])]
    assert not [name for name in os.listdir(model_dir) if name.startswith('tmp_')]
    assert not os.path.exists(os.path.join(model_dir, 'run.lock'))
    with open(os.path.join(model_dir, 'metrics.jsonl')) as stream:
        recorded = [json.loads(line) for line in stream]
    assert recorded and recorded[-1]['global_step'] == STEPS
    assert [line['global_step'] for line in recorded if line['best']][-1] == best['global_step']


MIRRORED_VERSUS_SINGLE = textwrap.dedent('''
    import json, sys
    import run
    from library import config as config_lib, run_config
    flags, single_dir, mirrored_dir = json.loads(sys.argv[1])
    mirrored = flags + ['--model_dir', mirrored_dir, '--distribution', 'mirrored']
    assert run.main(flags + ['--model_dir', single_dir]) == 0
    assert run.main(mirrored) == 0
    strategy = run_config.make_run_config(config_lib.parse(mirrored)[1]).train_distribute
    print('replicas', strategy.num_replicas_in_sync)
''')


def test_mirrored_on_two_cpu_devices_matches_one_device(shapes_tfrecords, tmp_path):
    """One SGD step on the whole training set as one batch (no augmentation, no dropout).

    Mirrored, each of the 2 replicas takes half of it; the evaluation loss after the step must
    match the one-device run's. A summed instead of averaged gradient (a doubled step) misses
    it by far; the halves' own batch-norm statistics make the small difference that remains.
    """
    with open(shapes_tfrecords['train_json']) as stream:
        whole = json.load(stream)['count'] // 2 * 2
    flags = run_flags(shapes_tfrecords, '--max_train_steps', '1', '--train_batch_size', whole,
                      '--cpu_devices', '2', '--random_flip', 'false',
                      '--crop_area_range', '[1.0, 1.0]', '--crop_aspect_range', '[1.0, 1.0]',
                      '--optimizer', 'sgd', '--learning_rate', '0.1', '--dropout_rate', '0.0',
                      '--best_metric', 'loss', '--best_mode', 'min')
    single, mirrored = tmp_path / 'single', tmp_path / 'mirrored'
    result = subprocess.run(
        [sys.executable, '-c', MIRRORED_VERSUS_SINGLE, json.dumps([flags, str(single),
                                                                    str(mirrored)])],
        cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'replicas 2' in result.stdout
    for model_dir in (single, mirrored):
        assert global_step(tf.train.latest_checkpoint(str(model_dir))) == 1
    assert read_best(mirrored)['value'] == pytest.approx(read_best(single)['value'], rel=0.1)


class Launch:
    """python -m library.launch running in the background, its output collected line by line."""

    def __init__(self, launcher_arguments, command):
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'library.launch'] + launcher_arguments + ['--', 'run.py'] +
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self):
        return ''.join(self.lines)

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output, re.MULTILINE)
            if match:
                return match
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError('no %r in the launcher output:\n%s' % (pattern, self.output[-5000:]))

    def finish(self, timeout):
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError('the launcher hung:\n%s' % self.output[-5000:]) from None
        self.reader.join(timeout=10)
        return code


def test_parameter_server_cluster_with_evaluator(shapes_tfrecords, tmp_path):
    launch = Launch(['--workers', '2', '--ps', '1', '--evaluator'], run_flags(
        shapes_tfrecords, '--model_dir', tmp_path, '--evaluator_throttle_secs', '1'))
    code = launch.finish(timeout=400)
    assert code == 0, launch.output[-5000:]
    assert re.search(r'exit codes: ps:0 stopped by the launcher \(exit code 0\), chief exit code 0'
                     r', worker:0 exit code 0, evaluator exit code 0', launch.output)
    # Whether worker:0 logs a step of its own is a race, not asserted: the Estimator starts a
    # worker 5 s after the chief and then polls every 30 s for the chief's variables, and on an
    # idle machine the chief has finished these STEPS steps before that.
    assert re.search(r'^\[evaluator\] evaluation: global_step %d' % STEPS, launch.output,
                     re.MULTILINE)
    assert_one_consistent_run(tmp_path)


def test_multi_worker_cluster_chief_keeps_the_best_snapshot(shapes_tfrecords, tmp_path):
    launch = Launch(['--workers', '2'], run_flags(shapes_tfrecords, '--model_dir', tmp_path))
    code = launch.finish(timeout=400)
    assert code == 0, launch.output[-5000:]
    assert 'exit codes: chief exit code 0, worker:0 exit code 0' in launch.output
    assert re.search(r'^\[chief\] evaluation: global_step %d' % STEPS, launch.output,
                     re.MULTILINE)
    assert '[worker:0] evaluation' not in launch.output
    assert_one_consistent_run(tmp_path)
    assert read_best(tmp_path)['global_step'] == STEPS


def test_killed_worker_fails_the_launch_instead_of_hanging(shapes_tfrecords, tmp_path):
    flags = run_flags(shapes_tfrecords, '--model_dir', tmp_path)
    flags[flags.index('--max_train_steps') + 1] = '1000000'
    launch = Launch(['--workers', '2'], flags)
    pid = int(launch.wait_for(r'started worker:0 \(pid (\d+)\)', timeout=60).group(1))
    launch.wait_for(r'^\[worker:0\] step \d+', timeout=300)
    os.kill(pid, signal.SIGKILL)
    code = launch.finish(timeout=120)
    assert code == 1
    assert 'worker:0 failed (killed by SIGKILL' in launch.output
    assert 'stopping the other tasks' in launch.output
