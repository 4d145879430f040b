"""The examining reader: every record checked before it is decoded, so a bad one is named, skipped or reported.

It serves `skip_corrupt: true`, image-folder input, the fill of a cache and
the search for the record that failed a run (first_problem). Each element is
a dict: filename, index (record number in the shard; -1 for an image file),
encoded, label, epoch, complete (a JPEG or PNG that ends with its end
marker) and problem ('' or what is wrong, seen without decoding). The fast
path (library/data/pipeline.py) reads records without any of this.
"""
import sys

import tensorflow as tf

from library import tfrecord_schema as schema

AUTOTUNE = tf.data.AUTOTUNE
READ_BUFFER_BYTES = 8 * 1024 * 1024
RECORD_OVERHEAD_BYTES = 16  # length, length CRC and data CRC around every TFRecord record
RECORD_GROUP = 64  # records read, byte-accounted and examined together
JPEG_END = b'\xff\xd9'
PNG_END = b'IEND\xaeB`\x82'
EXAMPLE_START = b'\x0a'  # a serialized tf.train.Example starts with its `features` field
IMAGE_MAGICS = (b'\xff\xd8\xff', b'\x89PNG', b'GIF8', b'BM')  # JPEG, PNG, GIF, BMP
UNDECODABLE = 'the image cannot be decoded (the warning logged above says why)'
SKIP_HINT = '; set skip_corrupt: true to skip such records'


def parse_examples(records):
    """Returns (encoded images, int32 labels) of serialized Examples, from the schema keys or the older keys."""
    features = tf.io.parse_example(records, {
        schema.ENCODED: tf.io.FixedLenFeature([], tf.string, default_value=''),
        schema.LEGACY_ENCODED: tf.io.FixedLenFeature([], tf.string, default_value=''),
        schema.LABEL: tf.io.FixedLenFeature([], tf.int64, default_value=schema.UNLABELLED),
        schema.LEGACY_LABEL: tf.io.FixedLenFeature([], tf.int64, default_value=schema.UNLABELLED),
    })
    encoded = tf.where(tf.strings.length(features[schema.ENCODED]) > 0,
                       features[schema.ENCODED], features[schema.LEGACY_ENCODED])
    labels = tf.where(tf.not_equal(features[schema.LABEL], schema.UNLABELLED),
                      features[schema.LABEL], features[schema.LEGACY_LABEL])
    return encoded, tf.cast(labels, tf.int32)


def starts_with(data, prefix):
    return tf.equal(tf.strings.substr(data, 0, len(prefix)), prefix)


def ends_with(data, suffix):
    position = tf.maximum(tf.strings.length(data) - len(suffix), 0)
    return tf.equal(tf.strings.substr(data, position, tf.fill(tf.shape(position), len(suffix))), suffix)


def examine_images(encoded, labels, num_classes):
    """Returns (complete, problem) of encoded images and their labels, element by element (any shape)."""
    complete = tf.logical_or(tf.logical_and(tf.io.is_jpeg(encoded), ends_with(encoded, JPEG_END)),
                             ends_with(encoded, PNG_END))
    known_format = tf.reduce_any(tf.stack([starts_with(encoded, magic) for magic in IMAGE_MAGICS]), axis=0)
    label_ok = tf.greater_equal(labels, schema.UNLABELLED)
    expected = ' is negative (only -1, unlabelled, is allowed)'
    if num_classes:
        label_ok = tf.logical_and(label_ok, tf.less(labels, num_classes))
        expected = ' outside 0..%d (num_classes %d)' % (num_classes - 1, num_classes)
    problem = tf.where(label_ok, '', tf.strings.join(['label ', tf.strings.as_string(labels), expected]))
    problem = tf.where(known_format, problem, 'not a JPEG, PNG, GIF or BMP image')
    problem = tf.where(tf.equal(tf.strings.length(encoded), 0), 'no image bytes under image/encoded or image', problem)
    return complete, problem


def read_file(filename, size, epoch):
    """Returns (filename, index of the first record, records, problem, epoch, end) for each group of records
    of one shard; a shard whose records do not account for all of its bytes (truncated or corrupt framing)
    ends with a group of one empty record whose problem says so.
    """
    groups = tf.data.TFRecordDataset(filename, buffer_size=READ_BUFFER_BYTES).ignore_errors(
        log_warning=True).batch(RECORD_GROUP)
    marked = tf.data.Dataset.zip((groups, tf.data.Dataset.from_tensors(False).repeat())).concatenate(
        tf.data.Dataset.from_tensors((tf.constant([b'']), True)))
    size = tf.cast(size, tf.int64)

    def account(state, element):
        start, consumed = state
        group, is_end = element
        truncated = tf.logical_and(is_end, tf.not_equal(consumed, size))
        problem = tf.cond(
            truncated,
            lambda: tf.strings.format('the shard is truncated or corrupt after record {} (read {} of {} bytes)',
                                      (start - 1, consumed, size)),
            lambda: tf.constant(''))
        count = tf.size(group, out_type=tf.int64)
        group_bytes = tf.reduce_sum(tf.cast(tf.strings.length(group), tf.int64)) + count * RECORD_OVERHEAD_BYTES
        complete = tf.logical_and(is_end, tf.logical_not(truncated))
        return (start + count, consumed + group_bytes), (filename, start, group, problem, epoch, complete)

    numbered = marked.scan((tf.constant(0, tf.int64), tf.constant(0, tf.int64)), account)
    return numbered.take_while(lambda filename_, start, group, problem, epoch_, end: tf.logical_not(end))


def examine_group(filename, start, group, problem, epoch, num_classes):
    """Returns the examined records of a group, as a dict of vectors with one entry per record.

    Records that are not serialized Examples parse as empty ones, so one of
    them does not fail its group; the group's own problem comes first.
    """
    count = tf.size(group, out_type=tf.int64)
    is_example = starts_with(group, EXAMPLE_START)
    encoded, labels = parse_examples(tf.where(is_example, group, b''))
    complete, found = examine_images(encoded, labels, num_classes)
    found = tf.where(is_example, found, 'not a serialized tf.train.Example')
    found = tf.where(tf.equal(problem, ''), found, problem)
    return {'filename': tf.fill([count], filename), 'index': start + tf.range(count), 'encoded': encoded,
            'label': labels, 'epoch': tf.fill([count], epoch), 'complete': complete, 'problem': found}


def read_records(files, training, seed, epochs, num_classes):
    """Returns examined records of `files`, `epochs` times (file order reshuffled per pass in training).

    Records are read, byte-accounted and examined in groups of RECORD_GROUP
    (a few ops per group instead of per record), then handed on one by one.
    """
    sizes = [tf.io.gfile.stat(path).length for path in files]
    file_list = tf.data.Dataset.from_tensor_slices((files, sizes))
    if training:
        file_list = file_list.shuffle(len(files), seed=seed % (2 ** 31), reshuffle_each_iteration=True)
    file_list = file_list.repeat(epochs).enumerate().map(
        lambda position, file: (file[0], file[1], position // len(files)))
    groups = file_list.interleave(read_file, num_parallel_calls=AUTOTUNE, deterministic=not training)
    return groups.map(lambda filename, start, group, problem, epoch, _: examine_group(
        filename, start, group, problem, epoch, num_classes), num_parallel_calls=AUTOTUNE).unbatch()


def file_elements(pairs, per_epoch, num_classes):
    """Maps a dataset of (path, label) pairs of image files to examined elements (index -1).

    The epoch is the pair's position // `per_epoch`.
    """
    def examine_file(position, path, label):
        encoded = tf.io.read_file(path)
        complete, problem = examine_images(encoded, label, num_classes)
        return {'filename': path, 'index': tf.constant(-1, tf.int64), 'encoded': encoded, 'label': label,
                'epoch': position // per_epoch, 'complete': complete, 'problem': problem}
    return pairs.enumerate().map(lambda position, pair: examine_file(position, *pair), num_parallel_calls=AUTOTUNE)


def guarded(load, element, fallback, problem=UNDECODABLE):
    """Returns (load(element), '') or (fallback, problem) when decoding fails, without failing.

    The attempt runs in a one-element dataset whose error is logged and dropped.
    """
    attempt = tf.data.Dataset.from_tensors(element).map(load).ignore_errors(log_warning=True)
    attempt = attempt.map(lambda *outputs: (outputs, tf.constant('')))
    failure = tf.data.Dataset.from_tensors((fallback, tf.constant(problem)))
    return attempt.concatenate(failure).take(1).get_single_element()


def checked_load(element, load, fallback):
    """Returns (load(element), problem) for an examined element; `fallback` (a tuple like load's) stands in
    when the element has a problem or its image cannot be decoded.

    Only images that do not look complete take the slower guarded decode.
    """
    problem = element['problem']
    clean = tf.equal(problem, '')

    def doubtful():
        return tf.cond(clean, lambda: guarded(load, element, fallback), lambda: (fallback, problem))
    return tf.cond(tf.logical_and(element['complete'], clean), lambda: (load(element), problem), doubtful)


def location(filename, index):
    """Returns 'record INDEX of FILE' for a TFRecord record, the file name for an image file (index -1)."""
    return tf.where(index < 0, filename,
                    tf.strings.join(['record ', tf.strings.as_string(index), ' of ', filename]))


def examined_map(elements, load, fallback, skip_corrupt):
    """Maps the examined `elements` to (payload, filename, index, problem) in parallel; the payload is
    load(element) (or `fallback`) followed by the label.

    With `skip_corrupt` the elements with a problem are dropped and counted;
    otherwise they go on, to fail where payload_or_failure checks them.
    """
    def example(element):
        outputs, problem = checked_load(element, load, fallback)
        return outputs + (element['label'],), element['filename'], element['index'], problem
    examples = elements.map(example, num_parallel_calls=AUTOTUNE)
    return skipping_problems(examples) if skip_corrupt else examples


def checked_batches(examples, batch_size, drop_remainder=False):
    """Batches (payload, filename, index, problem) examples into payload batches, checking each batch once."""
    return examples.batch(batch_size, drop_remainder=drop_remainder).map(payload_or_failure,
                                                                         num_parallel_calls=AUTOTUNE)


def payload_or_failure(payload, filename, index, problem):
    """Returns `payload`, or fails with 'input_fn: <location>: <problem>' for the first element with a problem.

    Takes one example or a batch of them (filename, index and problem then vectors).
    """
    problems, filenames, indices = (tf.reshape(part, [-1]) for part in (problem, filename, index))

    def fail():
        first = tf.argmax(tf.cast(tf.not_equal(problems, ''), tf.int32))
        message = tf.strings.join(['input_fn: ', location(filenames[first], indices[first]), ': ',
                                   problems[first], SKIP_HINT])
        with tf.control_dependencies([tf.debugging.Assert(False, [message])]):
            return tf.constant(False)
    checked = tf.cond(tf.reduce_all(tf.equal(problems, '')), lambda: tf.constant(True), fail)
    with tf.control_dependencies([checked]):
        return tf.nest.map_structure(tf.identity, payload)


def skipping_problems(dataset):
    """Drops the (payload, filename, index, problem) elements with a problem, logging each with a running count."""
    def count(skipped, element):
        payload, filename, index, problem = element
        skipped = skipped + tf.cast(tf.not_equal(problem, ''), tf.int64)
        return skipped, (payload, filename, index, problem, skipped)

    def log_skip(payload, filename, index, problem, skipped):
        def log():
            tf.print(tf.strings.join(['input_fn: skipped ', location(filename, index), ': ', problem,
                                      ' (', tf.strings.as_string(skipped), ' skipped so far)']),
                     output_stream=sys.stderr)
            return tf.constant(True)
        logged = tf.cond(tf.equal(problem, ''), lambda: tf.constant(False), log)
        return (payload, filename, index, problem), tf.logical_not(logged)

    return dataset.scan(tf.constant(0, tf.int64), count).map(log_skip).filter(
        lambda example, keep: keep).map(lambda example, keep: example)
