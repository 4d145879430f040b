"""The class list belongs to the run: a checkpoint is never served, evaluated or resumed with
another training set's class names (issue 31, item 1)."""
import json
import os
import re
import shutil

import pytest
import tensorflow as tf

from faults.conftest import checkpoint_steps, latest_step, run_in_process, tiny_flags
from library import dataset_info, tfrecord_schema

TRAIN_STEPS = 30


def relabelled_set(source_pattern, source_json, folder, name, classes):
    """Writes the records of `source_pattern` whose class is in `classes` as a one-shard set
    `name` in `folder` that lists `classes` in that order (as a conversion with another
    --labels_file gives it); returns its shard pattern."""
    source_classes = dataset_info.read(source_json)['classes']
    shard = os.path.join(folder, dataset_info.shard_file_name(name, 0, 1))
    count = 0
    with tf.io.TFRecordWriter(shard) as writer:
        for record in tf.data.TFRecordDataset(sorted(tf.io.gfile.glob(source_pattern))):
            example = tf.train.Example.FromString(record.numpy())
            label = example.features.feature[tfrecord_schema.LABEL].int64_list.value[0]
            class_name = source_classes[label]
            if class_name not in classes:
                continue
            example.features.feature[tfrecord_schema.LABEL].int64_list.value[:] = [
                classes.index(class_name)]
            writer.write(example.SerializeToString())
            count += 1
    dataset_info.write(dataset_info.info_path(folder, name), {
        'name': name, 'count': count, 'classes': list(classes),
        'shards': [os.path.basename(shard)], 'skipped': []})
    return os.path.join(folder, '%s-*.tfrecord' % name)


@pytest.fixture(scope='module')
def trained(shapes_tfrecords, tmp_path_factory):
    """A 3-class cnn trained TRAIN_STEPS steps, and training/evaluation sets with other class lists."""
    import run
    folder = str(tmp_path_factory.mktemp('classes'))
    model_dir = os.path.join(folder, 'model')
    code = run.main(tiny_flags(shapes_tfrecords, model_dir, max_train_steps=TRAIN_STEPS,
                               save_checkpoints_steps=TRAIN_STEPS) + ['--mode', 'train'])
    assert code == 0
    names = dataset_info.read(shapes_tfrecords['train_json'])['classes']
    train, test, train_json = (shapes_tfrecords['train_files'], shapes_tfrecords['eval_files'],
                               shapes_tfrecords['train_json'])
    reordered = list(reversed(names))
    return {
        'model_dir': model_dir, 'classes': names, 'reordered': reordered,
        'train_4': relabelled_set(train, train_json, folder, 'train4', sorted(names + ['hexagon'])),
        'train_2': relabelled_set(train, train_json, folder, 'train2', names[:2]),
        'train_reordered': relabelled_set(train, train_json, folder, 'trainrev', reordered),
        'test_reordered': relabelled_set(test, train_json, folder, 'testrev', reordered),
        'test_other': relabelled_set(test, train_json, folder, 'testother',
                                     [names[0], names[1], 'hexagon']),
    }


@pytest.fixture
def run_copy(trained, tmp_path):
    """A copy of the trained run's model_dir for one test; with legacy=True without classes.json."""
    def copy(legacy=False):
        model_dir = str(tmp_path / 'model')
        shutil.copytree(trained['model_dir'], model_dir)
        if legacy and os.path.exists(os.path.join(model_dir, 'classes.json')):
            os.remove(os.path.join(model_dir, 'classes.json'))
        return model_dir
    return copy


def flags(shapes_tfrecords, model_dir, mode, **overrides):
    """Returns run.py flags of the trained run for `mode`; train_files and eval_files may be overridden."""
    data = dict(shapes_tfrecords, **{key: overrides.pop(key) for key in ('train_files', 'eval_files')
                                     if key in overrides})
    settings = dict({'max_train_steps': TRAIN_STEPS, 'save_checkpoints_steps': TRAIN_STEPS}, **overrides)
    return tiny_flags(data, model_dir, **settings) + ['--mode', mode]


def one_error_line(code, out, err):
    """Asserts a refusal: exit 2, no traceback, one 'run.py: error:' line; returns that line."""
    assert code == 2, out + err
    assert 'Traceback' not in out + err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('run.py: error: '), err
    return lines[0]


def test_training_writes_the_class_list_into_model_dir(trained):
    with open(os.path.join(trained['model_dir'], 'classes.json')) as stream:
        saved = json.load(stream)
    assert saved == {'classes': trained['classes'], 'num_classes': 3}


@pytest.mark.parametrize('legacy', [False, True], ids=['classes_json', 'checkpoint_only'])
def test_export_with_a_four_class_train_set_is_refused(legacy, trained, shapes_tfrecords,
                                                        run_copy, tmp_path, capfd):
    model_dir = run_copy(legacy)
    export_dir = str(tmp_path / 'export')
    code, out, err = run_in_process(flags(shapes_tfrecords, model_dir, 'export',
                                          train_files=trained['train_4'])
                                    + ['--export_dir', export_dir], capfd)
    line = one_error_line(code, out, err)
    if legacy:
        assert re.search(r'checkpoint \S+model\.ckpt-%d' % TRAIN_STEPS, line), line
        assert '4 classes' in line and '[3]' in line and '[4]' in line, line
    else:
        assert ', '.join(trained['classes']) in line, line
        assert ', '.join(sorted(trained['classes'] + ['hexagon'])) in line, line
    assert not os.path.exists(export_dir) or not os.listdir(export_dir)


def test_export_with_the_classes_reordered_keeps_the_run_names(trained, shapes_tfrecords, run_copy,
                                                               tmp_path, capfd):
    model_dir = run_copy()
    export_dir = str(tmp_path / 'export')
    code, out, err = run_in_process(flags(shapes_tfrecords, model_dir, 'export',
                                          train_files=trained['train_reordered'])
                                    + ['--export_dir', export_dir], capfd)
    assert code == 0, out + err
    (version,) = os.listdir(export_dir)
    with open(os.path.join(export_dir, version, 'assets.extra', 'class_names.txt')) as stream:
        assert stream.read().split() == trained['classes']


def test_predict_names_the_run_classes(trained, shapes_tfrecords, run_copy, tmp_path, capfd):
    model_dir = run_copy()
    image = str(tmp_path / 'image.png')
    record = next(iter(tf.data.TFRecordDataset(tf.io.gfile.glob(shapes_tfrecords['eval_files']))))
    with open(image, 'wb') as stream:
        stream.write(tf.train.Example.FromString(record.numpy()).features.feature[
            tfrecord_schema.ENCODED].bytes_list.value[0])
    code, out, err = run_in_process(flags(shapes_tfrecords, model_dir, 'predict',
                                          train_files=trained['train_reordered'])
                                    + ['--images', image], capfd)
    assert code == 0, out + err
    result = json.loads(out.strip().splitlines()[-1])
    assert result['class_name'] == trained['classes'][result['class']]


def evaluation(out):
    """Returns the accuracy and loss printed by --mode evaluate."""
    return re.search(r'evaluation of \S+: .*(accuracy \S+).*(loss \S+)', out).groups()


def test_evaluation_set_in_another_order_is_remapped_by_name(trained, shapes_tfrecords, run_copy,
                                                            capfd):
    model_dir = run_copy()
    code, out, err = run_in_process(flags(shapes_tfrecords, model_dir, 'evaluate',
                                          max_eval_steps=None), capfd)
    assert code == 0, out + err
    expected = evaluation(out)
    code, out, err = run_in_process(flags(shapes_tfrecords, model_dir, 'evaluate',
                                          eval_files=trained['test_reordered'],
                                          max_eval_steps=None), capfd)
    assert code == 0, out + err
    assert evaluation(out) == expected
    remap = [line for line in out.splitlines() if 'remapped by name' in line]
    assert len(remap) == 1, out
    assert ', '.join(trained['reordered']) in remap[0] and ', '.join(trained['classes']) in remap[0]


def test_evaluation_set_with_a_class_the_run_lacks_is_refused(trained, shapes_tfrecords, run_copy,
                                                             capfd):
    model_dir = run_copy()
    code, out, err = run_in_process(flags(shapes_tfrecords, model_dir, 'evaluate',
                                          eval_files=trained['test_other']), capfd)
    line = one_error_line(code, out, err)
    assert 'hexagon' in line and ', '.join(trained['classes']) in line, line


@pytest.mark.parametrize('train_set', ['train_2', 'train_reordered'])
def test_resume_with_other_classes_is_refused(train_set, trained, shapes_tfrecords, run_copy, capfd):
    """Even with --allow_config_change (train_files changed), a set of other classes is refused."""
    model_dir = run_copy()
    code, out, err = run_in_process(flags(shapes_tfrecords, model_dir, 'train',
                                          train_files=trained[train_set],
                                          max_train_steps=TRAIN_STEPS + 10, train_epochs=10)
                                    + ['--allow_config_change'], capfd)
    line = one_error_line(code, out, err)
    assert ', '.join(trained['classes']) in line, line
    names = trained['classes'][:2] if train_set == 'train_2' else trained['reordered']
    assert ', '.join(names) in line, line
    assert checkpoint_steps(model_dir) == checkpoint_steps(trained['model_dir'])
    assert latest_step(model_dir) == TRAIN_STEPS


def test_resume_of_a_run_without_class_list_checks_the_checkpoint(trained, shapes_tfrecords,
                                                                  run_copy, capfd):
    model_dir = run_copy(legacy=True)
    code, out, err = run_in_process(flags(shapes_tfrecords, model_dir, 'train',
                                          train_files=trained['train_2'],
                                          max_train_steps=TRAIN_STEPS + 10, train_epochs=10)
                                    + ['--allow_config_change'], capfd)
    line = one_error_line(code, out, err)
    assert 'logits' in line and '[3]' in line and '[2]' in line, line
    assert checkpoint_steps(model_dir) == checkpoint_steps(trained['model_dir'])
    assert not os.path.exists(os.path.join(model_dir, 'classes.json'))
