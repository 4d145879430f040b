"""Writing files and folders so that a kill never leaves a half-written one, on any file system.

Every path goes through tf.io.gfile, so the same code serves the local disk,
gs:// and TensorFlow's in-memory ram://. A file is written under a temporary
name (holding TEMPORARY_PREFIX) and renamed into place; a folder is built
under a temporary name and moved into place, by one rename on the local disk
and file by file elsewhere (object stores have no folder rename, and ram://
loses the files of a renamed folder).
"""
import os
import posixpath
import uuid

import tensorflow as tf

TEMPORARY_PREFIX = '.incomplete-'


def join(folder, *names):
    """Joins path parts with '/' for remote file systems (gs://, ram://) and os.path locally."""
    if '://' in folder:
        return posixpath.join(folder, *names)
    return os.path.join(folder, *names)


def split(path):
    """Returns (parent folder, last name) of `path`, local or remote."""
    return (posixpath.split if '://' in path else os.path.split)(path.rstrip('/'))


def is_local(path):
    """Whether `path` is on the local disk, where a folder rename is atomic."""
    return '://' not in path or path.startswith('file://')


def temporary_sibling(path):
    """Returns an unused temporary name next to `path` (holding TEMPORARY_PREFIX)."""
    parent, name = split(path)
    return join(parent, '%s%s-%s' % (TEMPORARY_PREFIX, name, uuid.uuid4().hex))


def write_atomically(path, data):
    """Writes `data` (str or bytes) to `path` through a temporary file and a rename."""
    temporary = temporary_sibling(path)
    try:
        with tf.io.gfile.GFile(temporary, 'wb' if isinstance(data, bytes) else 'w') as stream:
            stream.write(data)
        tf.io.gfile.rename(temporary, path, overwrite=True)
    except tf.errors.OpError:
        if tf.io.gfile.exists(temporary):
            tf.io.gfile.remove(temporary)
        raise


def remove(path):
    """Deletes the file or folder `path` if it exists."""
    if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
    elif tf.io.gfile.exists(path):
        tf.io.gfile.remove(path)


def move_folder(temporary, final):
    """Moves the folder `temporary` to `final`: one atomic rename on the local disk, file by file elsewhere.

    Elsewhere the move is not atomic, so whatever names the result (best.json,
    a version folder) must only be written after this returns.
    """
    if is_local(final):
        tf.io.gfile.rename(temporary, final)
        return
    for folder, _, files in tf.io.gfile.walk(temporary):
        target = final + folder[len(temporary):]
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.rename(join(folder, name), join(target, name), overwrite=True)
    tf.io.gfile.rmtree(temporary)


def copy_folder(source, target):
    """Copies the folder `source` (with sub-folders) to `target` through a temporary sibling folder."""
    temporary = temporary_sibling(target)
    for folder, _, files in tf.io.gfile.walk(source):
        destination = temporary + folder[len(source):]
        tf.io.gfile.makedirs(destination)
        for file_name in files:
            tf.io.gfile.copy(join(folder, file_name), join(destination, file_name), overwrite=True)
    move_folder(temporary, target)
