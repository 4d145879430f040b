"""Hostile or broken configuration: refused with one line naming the problem and exit 2, before
anything runs or is written."""
import os

import pytest

from faults.conftest import ROOT, run_in_process, tiny_flags

MARKER = 'pwned-by-yaml'


def python_object_config(tmp_path):
    """A config file whose set would run a shell command if the YAML were loaded unsafely."""
    path = tmp_path / 'evil.yaml'
    path.write_text(open(os.path.join(ROOT, 'project.yaml')).read() + (
        '\nevil:\n  <<: *DEFAULT\n  model_dir: !!python/object/apply:os.system ["touch %s"]\n'
        % (tmp_path / MARKER)))
    return ['--config_file', str(path), '--config_set', 'evil']


CASES = {
    # name: (flags to change, words the one-line message must hold)
    'huge_batch': ({'train_batch_size': 10 ** 30}, ['train_batch_size']),
    'huge_image': ({'image_size': '1e400'}, ['image_size']),
    'negative_batch': ({'train_batch_size': -4}, ['train_batch_size', '-4']),
    'zero_epochs': ({'train_epochs': 0}, ['train_epochs', '0']),
    'nan_rate': ({'learning_rate': 'nan'}, ['learning_rate']),
    'missing_train_files': ({'train_files': '/nonexistent/train-*.tfrecord', 'num_classes': 3,
                             'max_train_steps': 2}, ['/nonexistent/train-*.tfrecord']),
    'missing_hyperparameter_file': ({'hyperparameter_file': '/nonexistent/h.yaml'},
                                    ['/nonexistent/h.yaml']),
    'missing_config_file': ({'config_file': '/nonexistent/p.yaml'}, ['/nonexistent/p.yaml']),
    'module_path_as_model': ({'model': 'os'}, ['model', 'os']),
    'dotted_model': ({'model': 'library.config'}, ['library.config']),
    'relative_path_model': ({'model': '../../etc/passwd'}, ['../../etc/passwd']),
    'unknown_key_in_set': ({'no_such_option': 1}, ['no_such_option']),
    'list_of_wrong_elements': ({'lr_decay_steps': '[a]'}, ['lr_decay_steps', "'a'", 'an integer']),
    'batch_larger_than_memory': ({'image_size': 8192, 'train_batch_size': 512},
                                 ['train_batch_size 512', 'image_size 8192', 'GiB']),
}


@pytest.mark.parametrize('case', sorted(CASES) + ['python_object_tag'])
def test_refused_with_one_line_and_exit_2(case, shapes_tfrecords, tmp_path, capfd):
    model_dir = str(tmp_path / 'model')
    if case == 'python_object_tag':
        argv = tiny_flags(shapes_tfrecords, None, config_file=None) + \
            python_object_config(tmp_path)
        words = ['evil.yaml', 'python/object']
    else:
        overrides, words = CASES[case]
        argv = tiny_flags(shapes_tfrecords, model_dir, **overrides)
    code, out, err = run_in_process(argv + ['--mode', 'train'], capfd)
    assert code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('run.py: error: '), err
    for word in words:
        assert word in lines[0]
    assert not os.path.exists(str(tmp_path / MARKER))
    assert not os.path.exists(os.path.join(model_dir, 'checkpoint'))
