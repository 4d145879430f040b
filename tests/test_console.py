"""A quiet console with a banner: no TensorFlow noise from the entry points unless --verbose."""
import os
import subprocess
import sys

import tensorflow as tf

from library import banner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOISE = ('deprecat', 'WARNING:tensorflow', 'oneDNN', 'cuda', 'AutoGraph', 'Traceback')


def run_python(argv, verbose=False):
    """Runs the interpreter on `argv` in the project folder with TensorFlow's log settings unset."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ('TF_CPP_MIN_LOG_LEVEL', 'SCAFFOLD_VERBOSE', 'AUTOGRAPH_VERBOSITY')}
    if verbose:
        environment['SCAFFOLD_VERBOSE'] = '1'
    result = subprocess.run([sys.executable] + argv, cwd=ROOT, env=environment,
                            capture_output=True, text=True, timeout=600)
    return result, result.stdout + result.stderr


def assert_quiet(output):
    found = [word for word in NOISE if word.lower() in output.lower()]
    assert not found, 'noise %s in:\n%s' % (found, output)


def test_mirrored_run_is_quiet_and_starts_with_the_banner(shapes_tfrecords, tmp_path):
    model_dir = str(tmp_path / 'model')
    result, output = run_python([
        'run.py', '--model_dir', model_dir, '--train_files', shapes_tfrecords['train_files'],
        '--eval_files', shapes_tfrecords['eval_files'], '--image_size', '32',
        '--cnn_filters', '[4]', '--train_batch_size', '10', '--eval_batch_size', '8',
        '--max_train_steps', '2', '--max_eval_steps', '1', '--save_checkpoints_steps', '100',
        '--distribution', 'mirrored', '--cpu_devices', '2'])
    assert result.returncode == 0, output
    assert_quiet(output)
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        'TensorFlow %s' % tf.__version__,
        banner.device_line(),
        'distribution: mirrored, 2 replicas (CPU:0, CPU:1)',
        'batch: 10 global, 5 per replica',
        'model_dir: %s (new run)' % model_dir,
    ]
    if not tf.config.list_physical_devices('GPU'):
        assert 'no GPU visible: CPU only' in lines[1] and 'pip install -e ".[gpu]"' in lines[1]


def write_checkpoint(model_dir, step):
    """Writes a checkpoint holding only the global step `step` into `model_dir`."""
    with tf.Graph().as_default():
        global_step = tf.compat.v1.train.get_or_create_global_step()
        with tf.compat.v1.Session() as session:
            session.run(global_step.initializer)
            session.run(global_step.assign(step))
            tf.compat.v1.train.Saver().save(session, os.path.join(model_dir, 'model.ckpt'),
                                            global_step=step)


def test_banner_says_from_which_step_a_run_resumes(tmp_path):
    model_dir = str(tmp_path)
    config = {'distribution': 'none', 'mirrored_devices': [], 'train_batch_size': 32,
              'model_dir': model_dir}
    run_config = tf.estimator.RunConfig(model_dir=model_dir)
    assert banner.lines(run_config, config)[2:] == [
        'distribution: none, 1 replica', 'batch: 32 global, 32 per replica',
        'model_dir: %s (new run)' % model_dir]
    write_checkpoint(model_dir, 7)
    assert banner.lines(run_config, config)[-1] == 'model_dir: %s (resuming from step 7)' % model_dir


def demo_data_argv(out):
    return ['-m', 'library.demo_data', '--out', out, '--train_per_class', '1',
            '--test_per_class', '1', '--min_edge', '40', '--max_edge', '48']


def test_demo_data_and_conversion_are_quiet(tmp_path):
    result, output = run_python(demo_data_argv(str(tmp_path / 'images')))
    assert result.returncode == 0, output
    assert_quiet(output)
    result, output = run_python([
        'convert_dataset.py', '--dataset_dir', str(tmp_path / 'images' / 'train'),
        '--tfrecord_filename', 'train', '--tfrecord_dir', str(tmp_path / 'records'),
        '--num_workers', '1'])
    assert result.returncode == 0, output
    assert_quiet(output)
    assert result.stdout.startswith('wrote 3 images (3 classes)')


def test_verbose_brings_tensorflow_log_lines_back(tmp_path):
    quiet, quiet_output = run_python(demo_data_argv(str(tmp_path / 'quiet')))
    loud, loud_output = run_python(demo_data_argv(str(tmp_path / 'loud')) + ['--verbose'])
    by_variable, variable_output = run_python(demo_data_argv(str(tmp_path / 'variable')),
                                              verbose=True)
    assert quiet.returncode == loud.returncode == by_variable.returncode == 0
    assert quiet.stderr == ''
    assert 'tensorflow/' in loud.stderr or 'external/' in loud.stderr, loud_output
    assert 'tensorflow/' in by_variable.stderr or 'external/' in by_variable.stderr, variable_output


def test_launcher_help_and_verbose_flag():
    result, output = run_python(['-m', 'library.launch', '--help'])
    assert result.returncode == 0, output
    assert '--workers' in result.stdout and '--verbose' in result.stdout
    result, output = run_python(['-m', 'library.launch', '--workers', '2'])
    assert result.returncode == 2
    assert 'expected the command after --' in result.stderr
