"""convert_dataset.py against a straightforward single-process converter, in the same run.

    python -m benchmarks.convert_bench                 # 1,000 photo-like 512x512 JPEGs, 3 runs
    python -m benchmarks.convert_bench --images 200 --repeats 1

Measures images/s of the scaffold's converter (worker processes, TensorFlow
check of every record) and of a plain loop (Pillow decode, resize, encode,
one TFRecord file) on the same JPEGs with --max_edge 384; then passthrough
(no resize) against copying the same files into one file. Writes the
figures and the command under '## Conversion' in benchmarks/README.md.
`python -m benchmarks` runs it too, through `run(context)`.

TensorFlow is imported inside functions: the converter's worker processes
re-import this module and must stay free of it.
"""
import argparse
import io
import os
import re
import resource
import shlex
import shutil
import sys
import tempfile

from PIL import Image

from benchmarks import common

MAX_EDGE = 384
QUALITY = 95
README = os.path.join(common.REPO_ROOT, 'benchmarks', 'README.md')
SECTION = '## Conversion'


def single_process_convert(paths, out_path, max_edge=MAX_EDGE):
    """The straightforward converter: Pillow decode, resize, JPEG encode, one TFRecord file."""
    import tensorflow as tf
    from library.tfrecord_schema import image_example
    with tf.io.TFRecordWriter(out_path) as writer:
        for path in paths:
            image = Image.open(path).convert('RGB')
            if max_edge and max(image.size) > max_edge:
                scale = max_edge / max(image.size)
                image = image.resize((round(image.width * scale), round(image.height * scale)),
                                     Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            image.save(buffer, 'JPEG', quality=QUALITY)
            writer.write(image_example(buffer.getvalue(), 'jpeg', image.height, image.width, 3,
                                       filename=os.path.basename(path)).SerializeToString())
    return len(paths)


def copy_into_one_file(paths, out_path):
    """Copies every file's bytes into one file: the floor for a passthrough conversion."""
    with open(out_path, 'wb') as out:
        for path in paths:
            with open(path, 'rb') as stream:
                shutil.copyfileobj(stream, out)
    return len(paths)


def read_and_decode_check(paths):
    """Reads every file and decodes it with TensorFlow at 1/8 scale in a parallel map: the floor
    for a passthrough conversion that checks every record with TensorFlow's decoder."""
    import tensorflow as tf
    from library.decode_check import JPEG_CHECK_RATIO
    decoded = tf.data.Dataset.from_tensor_slices(paths).map(
        lambda path: tf.shape(tf.io.decode_jpeg(tf.io.read_file(path), ratio=JPEG_CHECK_RATIO)),
        num_parallel_calls=tf.data.AUTOTUNE)
    return sum(1 for _ in decoded)


def scaffold_convert(images_dir, out_dir, max_edge):
    """convert_dataset.py's machinery with its defaults (all cores); returns images written."""
    from library.convert import convert_folder
    shutil.rmtree(out_dir, ignore_errors=True)
    return convert_folder(images_dir, out_dir, 'bench', max_edge=max_edge, quality=QUALITY,
                          show_progress=False)['count']


def measurements(images_dir, work_dir, repeats):
    """Returns the Measurements: scaffold and plain loop with resize; passthrough, copy and decode check."""
    paths = common.list_images(images_dir)
    count = len(paths)
    cores = common.usable_cores()
    out = os.path.join(work_dir, 'convert')
    os.makedirs(out, exist_ok=True)
    return [
        common.measure('convert.scaffold', 'convert_dataset.py --max_edge %d (%d workers)' % (
            MAX_EDGE, cores), lambda: scaffold_convert(images_dir, out, MAX_EDGE), count,
            repeats=repeats),
        common.measure('convert.single_process', 'single-process Pillow loop, resize to %d' % (
            MAX_EDGE), lambda: single_process_convert(paths, os.path.join(out, 'plain.tfrecord')),
            count, repeats=repeats),
        common.measure('convert.passthrough', 'convert_dataset.py, no resize (passthrough)',
                       lambda: scaffold_convert(images_dir, out, None), count, repeats=repeats),
        common.measure('convert.file_copy', 'copy the files into one file',
                       lambda: copy_into_one_file(paths, os.path.join(out, 'copy.bin')), count,
                       repeats=repeats),
        common.measure('convert.decode_check', "read the files and decode them with TensorFlow "
                       "at 1/8 scale (the check's work), parallel",
                       lambda: read_and_decode_check(paths), count, repeats=repeats),
    ]


def cpu_seconds(run_once):
    """Returns the CPU seconds (this process and its finished children) of one `run_once()`."""
    def used():
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    before = used()
    run_once()
    return used() - before


def cpu_note(images_dir, work_dir):
    """A note with CPU time per image of both converters.

    CPU time barely changes when other programs load the machine, unlike wall-clock rates.
    """
    paths = common.list_images(images_dir)
    out = os.path.join(work_dir, 'convert')
    scaffold = cpu_seconds(lambda: scaffold_convert(images_dir, out, MAX_EDGE)) / len(paths)
    plain = cpu_seconds(lambda: single_process_convert(
        paths, os.path.join(out, 'plain.tfrecord'))) / len(paths)
    return ('CPU time per image: convert_dataset.py %.1f ms (workers and the '
            'writing process together, including starting the workers), single-process loop '
            '%.1f ms.' % (1000 * scaffold, 1000 * plain))


def tables(images_dir, work_dir, repeats):
    """Returns the conversion tables for the JPEGs in `images_dir`."""
    found = measurements(images_dir, work_dir, repeats)
    count = len(common.list_images(images_dir))
    cpu = cpu_note(images_dir, work_dir)
    return [
        common.rate_table('Conversion with --max_edge %d (%d JPEGs from %s)' % (
            MAX_EDGE, count, os.path.basename(images_dir)), found[:2],
            baseline_key='convert.single_process',
            notes=['Target: convert_dataset.py at least 1.8x the single-process loop on 2 cores. '
                   'Both exclude the TensorFlow import; the scaffold includes starting its '
                   "workers and checking every record with TensorFlow's decoder.", '', cpu]),
        common.rate_table('Passthrough (no resize) against a plain file copy', found[2:],
                          baseline_key='convert.file_copy', notes=[
                              'A passthrough stores the bytes unchanged but still decodes every '
                              'record with TensorFlow before writing it, so its floor is the last '
                              'row, not the copy.']),
    ]


def run(context):
    """The `python -m benchmarks` entry point."""
    return tables(context.images_dir, context.work_dir, context.repeats)


def readme_with_section(text, section):
    """Returns README text with the '## Conversion' section replaced by `section` (or appended)."""
    pattern = re.compile(r'^%s\n.*?(?=^## |\Z)' % re.escape(SECTION), re.M | re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: section, text, count=1)
    return (text.rstrip() + '\n\n' if text.strip() else '# Benchmarks\n\n') + section


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.convert_bench',
                                     description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=1000, help='photo-like 512x512 JPEGs to make')
    parser.add_argument('--repeats', type=int, default=3, help='timed runs behind every median')
    parser.add_argument('--readme', default=README, help='Markdown file that gets the section')
    args = parser.parse_args(argv)
    machine = dict(common.machine_info())  # before the run, so the load average is the one it started under
    images_dir = common.photo_folder(args.images)
    with tempfile.TemporaryDirectory(prefix='convert-', dir=common.DATA_DIR) as work_dir:
        found = tables(images_dir, work_dir, args.repeats)
    command = 'python -m benchmarks.convert_bench' + ''.join(
        ' ' + shlex.quote(item) for item in (sys.argv[1:] if argv is None else argv))
    section = '\n'.join([
        SECTION, '',
        'Measured with `%s` on %s, %s, load average at start %s (%s).' % (
            command, machine['machine'], machine['cores'], machine['load average at start'],
            machine['date']), ''] + [table.markdown() for table in found])
    text = open(args.readme).read() if os.path.exists(args.readme) else ''
    with open(args.readme + '.tmp', 'w') as stream:
        stream.write(readme_with_section(text, section))
    os.replace(args.readme + '.tmp', args.readme)
    print(section)
    return 0


if __name__ == '__main__':
    sys.exit(main())
