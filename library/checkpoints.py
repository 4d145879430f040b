"""Finding a usable checkpoint in model_dir, whatever happened to its files.

TensorFlow trusts the `checkpoint` state file alone: without it (deleted, empty) training
starts again from step 0 and writes over the existing model.ckpt-N files, and a damaged
newest checkpoint (a truncated .data file, a missing .index) ends every mode in a
traceback. Here the checkpoint the state file names is used when all its tensors read
back; otherwise the newest checkpoint whose tensors do. Newer files are skipped, each
with its reason (damaged, or left by a save that did not finish).

Only a run that trains (and holds model_dir's run lock) changes anything: it moves the
skipped files into model_dir/damaged/ (never deleting or overwriting a file) and rewrites
the state file. Evaluate, export, predict and sample only read, so they never disturb a
training run writing its next checkpoint in the same folder.
"""
import os
import posixpath
import re
import sys

import tensorflow as tf

from library import files
from library.config import ConfigError

STATE_FILE = 'checkpoint'
DAMAGED_FOLDER = 'damaged'
CHECKPOINT_FILE = re.compile(r'^model\.ckpt-(\d+)\.(index|meta|data-\d+-of-\d+)$')
READ_ERRORS = (tf.errors.OpError, IndexError, ValueError)  # a truncated file raises IndexError


def checkpoint_step(prefix):
    """Returns the global step stored in checkpoint `prefix`."""
    # Not tf.train.load_variable: on ram:// it takes a checkpoint prefix for a folder.
    reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    return int(reader.get_tensor(tf.compat.v1.GraphKeys.GLOBAL_STEP))


def state_checkpoint(folder):
    """Returns the prefix folder's `checkpoint` state file names; None if missing, empty or unreadable."""
    try:
        state = tf.train.get_checkpoint_state(folder)
    except READ_ERRORS:
        return None
    return state.model_checkpoint_path if state else None


def current_step(model_dir):
    """Returns the global step of the checkpoint TensorFlow restores from `model_dir` (0 if none)."""
    checkpoint = state_checkpoint(model_dir)
    if checkpoint is None or not tf.io.gfile.exists(checkpoint + '.index'):
        return 0
    return checkpoint_step(checkpoint)


def has_checkpoint(folder):
    """Whether `folder` holds checkpoint files or a `checkpoint` state file naming one (damaged or not)."""
    return bool(checkpoint_files(folder)) or state_checkpoint(folder) is not None


def checkpoint_files(folder):
    """Returns {step: [file names]} of the model.ckpt-N files in `folder` (not sub-folders, not _temp)."""
    found = {}
    if not tf.io.gfile.isdir(folder):
        return found
    for name in tf.io.gfile.listdir(folder):
        match = CHECKPOINT_FILE.match(name.rstrip('/'))
        if match:
            found.setdefault(int(match.group(1)), []).append(match.group(0))
    return found


def restore_problem(prefix, names):
    """Returns why checkpoint `prefix` (files `names`) does not restore; None when every tensor reads back."""
    base = posixpath.basename(prefix)
    if base + '.index' not in names:
        return 'no %s.index' % base
    if not any('.data-' in name for name in names):
        return 'no %s.data-* file' % base
    try:
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
        for name in sorted(reader.get_variable_to_shape_map()):
            reader.get_tensor(name)
    except READ_ERRORS as error:
        text = str(getattr(error, 'message', error)).strip().splitlines()
        return (text[0] if text else type(error).__name__).rstrip('.')
    return None


def require_restorable(prefix, label):
    """Returns checkpoint `prefix` when it restores; else a ConfigError naming `label` and the reason."""
    names = [posixpath.basename(path) for path in tf.io.gfile.glob(prefix + '.*')]
    problem = restore_problem(prefix, names)
    if problem is not None:
        raise ConfigError('%s: checkpoint %s does not restore (%s)' % (label, prefix, problem))
    return prefix


def committed_step(folder):
    """Returns the step of the model.ckpt-N that folder's state file names when its .index exists, else None.

    Saver writes a checkpoint's files first and names it in the state file last, so files
    of a later step are what a save that did not finish left behind.
    """
    named = state_checkpoint(folder)
    match = re.match(r'^model\.ckpt-(\d+)$', posixpath.basename(named or ''))
    if not match or not tf.io.gfile.exists(named + '.index'):
        return None
    return int(match.group(1))


def find_usable(folder):
    """Returns (prefix to restore or None, [(prefix, reason, file names)] of the newer ones skipped).

    The prefix is the checkpoint the state file names if it restores, else the newest one that does.
    """
    found = checkpoint_files(folder)
    committed = committed_step(folder)
    skipped = []
    for step in sorted(found, reverse=True):
        prefix = files.join(folder, 'model.ckpt-%d' % step)
        if committed is not None and step > committed:
            problem = 'newer than the checkpoint state file names: a save that did not finish'
        else:
            problem = restore_problem(prefix, found[step])
        if problem is None:
            return prefix, skipped
        skipped.append((prefix, problem, found[step]))
    return None, skipped


def describe_skipped(skipped):
    """Returns 'model.ckpt-N (reason), ...' for the skipped checkpoints."""
    return ', '.join('%s (%s)' % (posixpath.basename(prefix), reason) for prefix, reason, _ in skipped)


def warn(text):
    """Prints one line to stderr (stdout may carry predict's JSON lines)."""
    sys.stderr.write('warning: %s\n' % text)
    sys.stderr.flush()


def unused_damaged_prefix(damaged_dir, base, names):
    """Returns damaged_dir/<base>, or <base>.<k> when an earlier damaged copy holds one of those names."""
    candidate, suffix = base, 0
    while any(tf.io.gfile.exists(files.join(damaged_dir, candidate + name[len(base):]))
              for name in names):
        suffix += 1
        candidate = '%s.%d' % (base, suffix)
    return files.join(damaged_dir, candidate)


def move_aside(folder, prefix, names):
    """Moves `names`, the files of checkpoint `prefix`, into folder/damaged/ without overwriting any file."""
    damaged_dir = files.join(folder, DAMAGED_FOLDER)
    tf.io.gfile.makedirs(damaged_dir)
    base = posixpath.basename(prefix)
    target = unused_damaged_prefix(damaged_dir, base, names)
    for name in names:
        tf.io.gfile.rename(files.join(folder, name), target + name[len(base):], overwrite=False)


def same_path(first, second):
    """Whether two paths name the same file (local paths compared absolute)."""
    if files.is_local(first) and files.is_local(second):
        return os.path.abspath(first) == os.path.abspath(second)
    return first == second


def write_state(folder, prefix):
    """Rewrites folder's `checkpoint` state file to name `prefix` and the older checkpoints present."""
    newest = checkpoint_step(prefix)
    kept = ['model.ckpt-%d' % step for step in sorted(checkpoint_files(folder)) if step <= newest]
    text = 'model_checkpoint_path: "%s"\n' % posixpath.basename(prefix)
    text += ''.join('all_model_checkpoint_paths: "%s"\n' % name for name in kept)
    files.write_atomically(files.join(folder, STATE_FILE), text)


def unusable_error(folder, skipped):
    """Returns the ConfigError for a folder whose checkpoint files all fail to restore."""
    return ConfigError('%s holds checkpoint files but none restores: %s; move them away (or use '
                       'another model_dir) to start over' % (folder, describe_skipped(skipped)))


def usable_checkpoint(folder):
    """Returns the checkpoint of `folder` to restore (see find_usable; None if none), changing nothing.

    Says on stderr which newer ones were skipped and why; a ConfigError when
    checkpoint files are there but none restores.
    """
    prefix, skipped = find_usable(folder)
    if prefix is None and skipped:
        raise unusable_error(folder, skipped)
    if prefix is None:  # no model.ckpt-N files: whatever other prefix the state file names
        named = state_checkpoint(folder)
        return named if named and tf.io.gfile.exists(named + '.index') else None
    if skipped:
        warn('%s: skipped %s; using %s' % (folder, describe_skipped(skipped),
                                          posixpath.basename(prefix)))
    return prefix


def repair(model_dir):
    """Makes the `checkpoint` state file of `model_dir` name its newest checkpoint that restores.

    Newer checkpoint files (damaged, or left by a save that did not finish) are moved into
    model_dir/damaged/, so training never writes over them; says so in one line. Returns
    the prefix, or None when there are no checkpoint files (a new run). Call it only while
    holding model_dir's run lock.
    """
    prefix, skipped = find_usable(model_dir)
    if prefix is None and skipped:
        raise unusable_error(model_dir, skipped)
    if prefix is None:
        return None
    named = state_checkpoint(model_dir)
    state_is_right = named is not None and same_path(named, prefix)
    if state_is_right and not skipped:
        return prefix
    parts = []
    if skipped:
        for damaged, _, names in skipped:
            move_aside(model_dir, damaged, names)
        parts.append('skipped %s, moved to %s' % (describe_skipped(skipped),
                                                  files.join(model_dir, DAMAGED_FOLDER)))
    if state_is_right:
        parts.append('using %s' % posixpath.basename(prefix))
    else:
        write_state(model_dir, prefix)
        before = 'named %s' % posixpath.basename(named) if named else 'was missing, empty or unreadable'
        parts.append('the checkpoint state file %s; it now names %s' % (
            before, posixpath.basename(prefix)))
    warn('%s: %s' % (model_dir, '; '.join(parts)))
    return prefix
