"""A loss that becomes NaN: training stops naming the step; neither the last good checkpoint nor
the best snapshot is replaced by the diverged model."""
import math
import os
import re

import tensorflow as tf

from faults.conftest import assert_best_snapshot_consistent, latest_step, run_in_process, tiny_flags


def test_divergence_stops_naming_the_step_and_keeps_the_best(shapes_tfrecords, tmp_path, capfd):
    model_dir = str(tmp_path / 'model')
    code, out, err = run_in_process(tiny_flags(shapes_tfrecords, model_dir, train_epochs=1), capfd)
    assert code == 0, out + err
    best_before = assert_best_snapshot_consistent(model_dir)
    best_files_before = sorted(os.listdir(os.path.join(model_dir, 'best')))

    code, out, err = run_in_process(
        tiny_flags(shapes_tfrecords, model_dir, train_epochs=3, optimizer='sgd',
                   learning_rate=1e38) + ['--allow_config_change'], capfd)
    assert code == 1, out + err
    stop = re.search(r'training stopped: Model diverged with loss = (\S+) at step (\d+)\.', out)
    assert stop, out
    assert stop.group(1) in ('nan', 'inf', '-inf', 'NaN') and int(stop.group(2)) > 15
    assert 'The last good checkpoint is step 15' in out
    assert 'evaluation:' not in out

    assert assert_best_snapshot_consistent(model_dir) == best_before
    assert sorted(os.listdir(os.path.join(model_dir, 'best'))) == best_files_before
    assert latest_step(model_dir) == 15
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    for name in reader.get_variable_to_shape_map():
        values = reader.get_tensor(name)
        if getattr(values, 'dtype', None) is not None and values.dtype.kind == 'f':
            assert all(math.isfinite(value) for value in values.ravel()), name
