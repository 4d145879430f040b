"""convert_dataset.py as users run it: summary, one-line errors with exit 2, and interruption."""
import glob
import json
import os
import signal
import subprocess
import sys

import pytest

import convert_dataset
from library import convert
from test_convert import convert_quietly, read_records, write_file, write_jpeg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_main(argv, capsys):
    code = convert_dataset.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_summary_line_counts_written_and_skipped_files(tmp_path, capsys):
    write_jpeg(tmp_path / 'in' / 'a' / 'one.jpg')
    write_jpeg(tmp_path / 'in' / 'b' / 'two.jpg')
    write_file(tmp_path / 'in' / 'b' / 'broken.jpg', b'\xff\xd8\xff\xe0 broken')
    code, out, err = run_main(['--dataset_dir', str(tmp_path / 'in'), '--tfrecord_filename',
                               'train', '--tfrecord_dir', str(tmp_path / 'out'),
                               '--num_workers', '1'], capsys)
    assert code == 0
    assert out.startswith('wrote 2 images (2 classes) to 1 shard in ')
    assert 'skipped 1 (reasons in ' in out and 'images/s' in out
    assert 'converted 3/3 images (100%)' in err


def bad_input_cases(tmp_path):
    write_jpeg(tmp_path / 'good' / 'a.jpg')
    write_file(tmp_path / 'mixed' / 'a.jpg', write_jpeg(tmp_path / 'spare.jpg'))
    write_file(tmp_path / 'mixed' / 'b.jpg', b'not a jpeg')
    write_file(tmp_path / 'broken' / 'a.jpg', b'')
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'a_file').write_text('x')
    good = str(tmp_path / 'good')
    return {
        'missing folder': ([str(tmp_path / 'nope')], 'no such folder'),
        'no input': ([str(tmp_path / 'empty')], 'no input files'),
        'nothing convertible': ([str(tmp_path / 'broken')], 'no image could be converted'),
        'strict': ([str(tmp_path / 'mixed'), '--strict'], '--strict: b.jpg: not an image'),
        'unwritable output': ([good, '--tfrecord_dir', str(tmp_path / 'a_file' / 'out')],
                              'cannot write there'),
        'bad resize': ([good, '--resize', '20by20'], "--resize '20by20'"),
        'resize and max_edge': ([good, '--resize', '8x8', '--max_edge', '4'], 'use one of them'),
        'missing labels file': ([good, '--labels_file', str(tmp_path / 'labels.txt')],
                                'file not found'),
        'no shards': ([good, '--num_shards', '0'], '--num_shards 0'),
        'quality': ([good, '--quality', '0'], '--quality 0'),
    }


def test_user_errors_are_one_line_and_exit_code_2(tmp_path, capsys):
    for case, (arguments, message) in bad_input_cases(tmp_path).items():
        argv = ['--dataset_dir'] + arguments + ['--tfrecord_filename', 'data', '--num_workers', '1']
        if '--tfrecord_dir' not in argv:
            argv += ['--tfrecord_dir', str(tmp_path / 'out')]
        code, out, err = run_main(argv, capsys)
        assert code == 2, case
        error_lines = [line for line in err.splitlines() if not line.startswith('converted ')]
        assert len(error_lines) == 1, (case, err)
        assert error_lines[0].startswith('convert_dataset.py: error: '), case
        assert message in error_lines[0], (case, error_lines[0])
    assert not glob.glob(str(tmp_path / 'out' / 'data-*'))


def test_bad_flags_exit_2(capsys):
    with pytest.raises(SystemExit) as stopped:
        convert_dataset.main(['--dataset_dir', 'x', '--tfrecord_filename', 'y',
                              '--tfrecord_dir', 'z', '--channels', '2'])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.count('\n') == 1


def three_class_jpegs(source, count=600):
    """Writes `count` small JPEGs in three class folders: enough for a conversion to interrupt."""
    for index in range(count):
        write_jpeg(source / ('class_%d' % (index % 3)) / ('%03d.jpg' % index), 48, 48, seed=index)
    return source


def start_conversion(source, out, *extra):
    """Starts convert_dataset.py and returns it once its first progress line appeared."""
    process = subprocess.Popen(
        [sys.executable, 'convert_dataset.py', '--dataset_dir', str(source),
         '--tfrecord_filename', 'train', '--tfrecord_dir', str(out), '--max_edge', '24',
         '--num_workers', '2'] + list(extra),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
    for line in process.stderr:
        if line.startswith('converted '):
            return process
    process.wait()
    raise AssertionError('no progress line; exit code %s' % process.returncode)


def test_an_interrupted_conversion_leaves_no_shard_and_earlier_output_intact(tmp_path):
    source = three_class_jpegs(tmp_path / 'in')
    out = tmp_path / 'out'

    killed = start_conversion(source, out)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    assert glob.glob(str(out / 'train-*.tfrecord')) == [] and not (out / 'train.json').exists()

    complete = convert_quietly(source, out, 'train', max_edge=24, num_shards=2)
    assert complete['count'] == 600 and len(read_records(str(out / 'train-*.tfrecord'))) == 600
    assert sorted(os.listdir(out)) == complete['shards'] + ['train.json']
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}

    interrupted = start_conversion(source, out, '--num_shards', '3')
    interrupted.send_signal(signal.SIGINT)
    _, err = interrupted.communicate(timeout=60)
    assert interrupted.returncode == 130
    assert err.strip().splitlines()[-1].startswith('convert_dataset.py: interrupted')
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before


def encoding_workers(process):
    """The pids of `process`'s multiprocessing workers (its resource tracker left out)."""
    with open('/proc/%d/task/%d/children' % (process.pid, process.pid)) as stream:
        children = [int(pid) for pid in stream.read().split()]
    workers = []
    for pid in children:
        with open('/proc/%d/cmdline' % pid, 'rb') as stream:
            if b'spawn_main' in stream.read():
                workers.append(pid)
    return workers


def conversion_with_two_workers(tmp_path):
    """Starts a conversion of three_class_jpegs into tmp_path/out; returns (process, worker pids, out)."""
    out = tmp_path / 'out'
    conversion = start_conversion(three_class_jpegs(tmp_path / 'in'), out)
    workers = encoding_workers(conversion)
    assert len(workers) == 2
    return conversion, workers, out


def test_a_killed_worker_fails_the_conversion_with_a_message_and_writes_nothing(tmp_path):
    conversion, workers, out = conversion_with_two_workers(tmp_path)
    os.kill(workers[0], signal.SIGKILL)
    _, err = conversion.communicate(timeout=60)
    assert conversion.returncode == 1
    assert 'an encoding worker process died' in err.strip().splitlines()[-1]
    assert os.listdir(out) == []


def test_summary_line_for_unlabelled_output():
    summary = {'count': 3, 'classes': [], 'shards': ['x-00000-of-00001.tfrecord'], 'skipped': [],
               'info_path': 'out/x.json', 'seconds': 1.0, 'images_per_second': 3.0}
    assert convert.summary_line(summary) == (
        'wrote 3 images (unlabelled) to 1 shard in out; skipped 0; 1.0 s, 3.0 images/s')


def test_sigterm_stops_the_workers_and_leaves_no_partial_folder(tmp_path):
    conversion, workers, out = conversion_with_two_workers(tmp_path)
    conversion.send_signal(signal.SIGTERM)
    _, err = conversion.communicate(timeout=60)
    assert conversion.returncode == 143
    assert err.strip().splitlines()[-1] == (
        'convert_dataset.py: interrupted by SIGTERM; earlier output in %s is unchanged' % out)
    assert 'Traceback' not in err
    assert os.listdir(out) == []
    for pid in workers:
        assert not os.path.exists('/proc/%d' % pid) or open('/proc/%d/stat' % pid).read().split(
            ')')[-1].split()[0] == 'Z', 'worker %d still running' % pid


def test_a_second_conversion_to_the_same_output_is_refused_and_the_first_completes(
        tmp_path, capsys):
    source = three_class_jpegs(tmp_path / 'in', count=1500)
    out = tmp_path / 'out'
    first = start_conversion(source, out, '--num_workers', '1')
    code, _, err = run_main(['--dataset_dir', str(source), '--tfrecord_filename', 'train',
                             '--tfrecord_dir', str(out), '--num_workers', '1'], capsys)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(
        'convert_dataset.py: error: %s is in use by process %d on %s since ' % (
            out / 'train-*.tfrecord', first.pid,
            os.uname().nodename))
    first_err = first.communicate(timeout=120)[1]
    assert first.returncode == 0, first_err
    info = json.loads((out / 'train.json').read_text())
    assert info['count'] == 1500
    assert sorted(os.listdir(out)) == info['shards'] + ['train.json']
