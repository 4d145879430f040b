"""Runs run.py or convert_dataset.py with one fault injected, chosen by the FAULT environment variable.

    FAULT='{"fault": "checkpoint_write", "step": 20}' python -m tests.faults.fault_runner run ...

Faults (the key "fault" picks one):
  pause             after training step `step`, print 'paused at step N' and sleep until the
                    file `until` exists (or an hour), so the test can kill the process there
                    (between two checkpoints) or change its world (fill the disk)
The others end the process with a real SIGKILL at a precise moment:
  checkpoint_write  while the checkpoint of global step `step` is being written: as soon as
                    its temporary files appear, or at the latest before TensorFlow's
                    `checkpoint` state file names it
  best_copy         in the middle of the best-snapshot copy number `copy` (1 = the first
                    snapshot taken), after its first file was copied
  shard_rename      in the middle of convert_dataset.py renaming its shards into place, after
                    `renames` renames
Without FAULT the tool runs unchanged.
"""
import json
import numbers
import os
import signal
import sys
import threading
import time


def kill_now(moment):
    """Says on stderr where the process dies, then SIGKILLs it."""
    sys.stderr.write('fault_runner: SIGKILL %s\n' % moment)
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def inject_checkpoint_write_kill(step):
    """Kills this process while the checkpoint of global step `step` is written."""
    from tensorflow.python.checkpoint import checkpoint_management
    from tensorflow.python.training import saver
    suffix = '-%d' % step
    original_save = saver.Saver.save
    original_update = checkpoint_management.update_checkpoint_state_internal

    def watch_for_temporary_files(folder, done):
        while not done.is_set():
            if any('_temp' in name for name in os.listdir(folder)):
                kill_now('while the checkpoint of step %d is written' % step)

    def save(self, sess, save_path, global_step=None, *args, **kwargs):
        current = global_step if isinstance(global_step, (numbers.Integral, type(None))) else \
            sess.run(global_step)
        if current is None or int(current) != step:
            return original_save(self, sess, save_path, global_step, *args, **kwargs)
        done = threading.Event()
        watcher = threading.Thread(target=watch_for_temporary_files,
                                   args=(os.path.dirname(save_path), done), daemon=True)
        watcher.start()
        try:
            return original_save(self, sess, save_path, global_step, *args, **kwargs)
        finally:
            done.set()

    def update(save_dir, model_checkpoint_path, *args, **kwargs):
        if model_checkpoint_path.endswith(suffix):
            kill_now('after the checkpoint files of step %d, before the checkpoint state' % step)
        return original_update(save_dir, model_checkpoint_path, *args, **kwargs)

    saver.Saver.save = save
    checkpoint_management.update_checkpoint_state_internal = update


def inject_best_copy_kill(copy_number):
    """Kills this process after the first file of best-snapshot copy `copy_number` is copied."""
    from library import best_snapshot
    original = best_snapshot.BestSnapshot.copy_checkpoint
    copies = {'count': 0}

    def copy_checkpoint(self, checkpoint, global_step):
        copies['count'] += 1
        if copies['count'] != copy_number:
            return original(self, checkpoint, global_step)
        gfile_copy = best_snapshot.tf.io.gfile.copy

        def copy_then_die(source, target, overwrite=False):
            gfile_copy(source, target, overwrite)
            kill_now('in the middle of best-snapshot copy %d' % copy_number)
        best_snapshot.tf.io.gfile.copy = copy_then_die
        return original(self, checkpoint, global_step)

    best_snapshot.BestSnapshot.copy_checkpoint = copy_checkpoint


def inject_shard_rename_kill(renames):
    """Kills this process after `renames` shard renames of a conversion's commit."""
    from library import convert
    gfile = convert.tf.io.gfile
    original = gfile.rename
    done = {'count': 0}

    def rename(source, target, overwrite=False):
        if '.partial' in source:
            if done['count'] == renames:
                kill_now('after %d shard renames' % renames)
            done['count'] += 1
        return original(source, target, overwrite)
    gfile.rename = rename


def inject_pause(step, until):
    """Makes training sleep after global step `step` (printed as 'paused at step N') until
    the file `until` exists."""
    from library import hooks
    original = hooks.ProgressHook.after_run

    def after_run(self, run_context, run_values):
        original(self, run_context, run_values)
        if int(run_values.results['step']) + 1 == step:
            sys.stdout.write('paused at step %d\n' % step)
            sys.stdout.flush()
            deadline = time.time() + 3600
            while time.time() < deadline and not (until and os.path.exists(until)):
                time.sleep(0.05)
    hooks.ProgressHook.after_run = after_run


def inject(fault):
    if fault['fault'] == 'pause':
        inject_pause(int(fault['step']), fault.get('until'))
    elif fault['fault'] == 'checkpoint_write':
        inject_checkpoint_write_kill(int(fault['step']))
    elif fault['fault'] == 'best_copy':
        inject_best_copy_kill(int(fault['copy']))
    elif fault['fault'] == 'shard_rename':
        inject_shard_rename_kill(int(fault['renames']))
    else:
        raise ValueError('unknown fault %r' % (fault,))


def main(argv):
    tool, arguments = argv[0], argv[1:]
    if os.environ.get('FAULT'):
        inject(json.loads(os.environ['FAULT']))
    if tool == 'run':
        import run
        return run.main(arguments)
    import convert_dataset
    return convert_dataset.main(arguments)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
