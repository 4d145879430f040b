"""convert_dataset.py against the converter a user writes, as whole processes, in the same run.

    python -m benchmarks.convert_bench                 # 1,000 photo-like 512x512 JPEGs, 3 runs
    python -m benchmarks.convert_bench --photos /work/photos --repeats 3   # your own photos
    python -m benchmarks.convert_bench --images 200 --repeats 1

Times, as whole processes (start-up and imports included, as a user waits
for them), `convert_dataset.py --max_edge 384 --quality 90` with all cores
and with one worker, and benchmarks/plain_convert_loop.py (Pillow open,
thumbnail, save, one TFRecordWriter), alternating; states the load average
before every run, the CPU time and output size of each, and the mean PSNR of
both outputs against a Lanczos reference. Then passthrough (no resize)
against copying the same files into one file. Writes the figures and the
command under '## Conversion' in benchmarks/README.md. `python -m
benchmarks` runs it too, through `run(context)`.

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
import statistics
import sys
import tempfile
import time

import numpy as np
from PIL import Image, ImageOps

from benchmarks import common

MAX_EDGE = 384
QUALITY = 90
PLAIN_LOOP = os.path.join(common.REPO_ROOT, 'benchmarks', 'plain_convert_loop.py')
README = os.path.join(common.REPO_ROOT, 'benchmarks', 'README.md')
SECTION = '## Conversion'


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_process(arguments):
    """Runs one whole process; returns (wall seconds, CPU seconds, 1-minute load before it)."""
    load = os.getloadavg()[0]
    started, cpu = time.perf_counter(), children_cpu_seconds()
    common.run_command(arguments, timeout=3600)
    return time.perf_counter() - started, children_cpu_seconds() - cpu, load


def process_commands(images_dir, out_dir):
    """Returns {key: (label, command)}: the converter with all cores and one worker, the loop."""
    convert = [sys.executable, 'convert_dataset.py', '--dataset_dir', images_dir,
               '--tfrecord_filename', 'bench', '--tfrecord_dir', os.path.join(out_dir, 'scaffold'),
               '--max_edge', str(MAX_EDGE), '--quality', str(QUALITY)]
    return {
        'convert.scaffold': ('convert_dataset.py --max_edge %d --quality %d (%d workers)' % (
            MAX_EDGE, QUALITY, common.usable_cores()), convert),
        'convert.scaffold_1_worker': ('the same with --num_workers 1', convert + [
            '--num_workers', '1', '--tfrecord_dir', os.path.join(out_dir, 'one_worker')]),
        'convert.single_process': ('plain loop: Pillow thumbnail (bilinear), quality %d, one '
                                   'process' % QUALITY, [sys.executable, PLAIN_LOOP, images_dir,
                                                         os.path.join(out_dir, 'plain.tfrecord'),
                                                         str(MAX_EDGE), str(QUALITY)]),
    }


def whole_process_runs(images_dir, out_dir, repeats):
    """Returns {key: [(wall s, CPU s, load)]}, the commands run alternately `repeats` times."""
    commands = process_commands(images_dir, out_dir)
    runs = {key: [] for key in commands}
    for _ in range(repeats):
        for key, (_, command) in commands.items():
            runs[key].append(timed_process(command))
    return runs


def output_bytes(out_dir):
    """Returns {key: bytes written} of the last runs."""
    def size(path):
        return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path)
                   for name in names) if os.path.isdir(path) else os.path.getsize(path)
    return {'convert.scaffold': size(os.path.join(out_dir, 'scaffold')),
            'convert.scaffold_1_worker': size(os.path.join(out_dir, 'one_worker')),
            'convert.single_process': size(os.path.join(out_dir, 'plain.tfrecord'))}


def stored_images(pattern):
    """Returns {file name: decoded RGB image} of the records in the shards matching `pattern`."""
    import tensorflow as tf
    images = {}
    for serialized in tf.data.TFRecordDataset(tf.io.gfile.glob(pattern)):
        feature = tf.train.Example.FromString(serialized.numpy()).features.feature
        name = os.path.basename(feature['image/filename'].bytes_list.value[0].decode())
        images[name] = Image.open(io.BytesIO(feature['image/encoded'].bytes_list.value[0]))
    return images


def psnr(first, second):
    error = np.mean((np.asarray(first, np.float64) - np.asarray(second, np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(error, 1e-12))


def mean_psnr(images_dir, stored, upright):
    """Mean PSNR (dB) of the resized `stored` images against a Lanczos reference: the source
    fully decoded, turned upright when `upright` (the loop leaves EXIF rotation alone) and resized
    with Lanczos to the stored size. Images stored at their own size are left out."""
    values = []
    for path in common.list_images(images_dir):
        image = stored.get(os.path.basename(path))
        if image is None:
            continue
        source = Image.open(path)
        source = (ImageOps.exif_transpose(source) if upright else source).convert('RGB')
        if source.size != image.size:
            values.append(psnr(image.convert('RGB'),
                               source.resize(image.size, Image.Resampling.LANCZOS)))
    return statistics.mean(values)


def whole_process_table(images_dir, work_dir, repeats):
    """The converter against the plain loop as whole processes, with quality and size stated."""
    count = len(common.list_images(images_dir))
    if not common.has_class_folders(images_dir):
        return common.skipped_table('Whole processes', 'the plain loop expects class folders')
    out_dir = os.path.join(work_dir, 'processes')
    os.makedirs(out_dir, exist_ok=True)
    runs = whole_process_runs(images_dir, out_dir, repeats)
    labels = {key: label for key, (label, _) in process_commands(images_dir, out_dir).items()}
    found = [common.Measurement(key, labels[key], 'images/s',
                                [count / wall for wall, _, _ in runs[key]]) for key in runs]
    sizes = output_bytes(out_dir)
    quality = {'convert.scaffold': mean_psnr(images_dir, stored_images(
                   os.path.join(out_dir, 'scaffold', 'bench-*.tfrecord')), upright=True),
               'convert.single_process': mean_psnr(images_dir, stored_images(
                   os.path.join(out_dir, 'plain.tfrecord')), upright=False)}
    notes = ['Whole processes, Python start-up and the TensorFlow import included, run '
             'alternately; target: convert_dataset.py at least 1.8x the plain loop on 2 cores, '
             'and with one worker no slower than it.', '']
    for key in runs:
        notes.append('- %s: %s; output %.0f MB%s.' % (
            labels[key], ', '.join('%.1f s wall / %.1f s CPU (load %.2f)' % run
                                  for run in runs[key]), sizes[key] / 1e6,
            ', mean PSNR %.1f dB against the Lanczos reference' % quality[key]
            if key in quality else ''))
    notes += ['', 'PSNR over the images that were downscaled; Lanczos reference: each source fully decoded '
              '(turned upright for the converter, which applies EXIF rotation; not for the loop, which ignores it) and '
              'resized with Lanczos to the stored size.']
    return common.rate_table('Conversion with --max_edge %d --quality %d, whole processes '
                             '(%d images from %s)' % (MAX_EDGE, QUALITY, count,
                                                      os.path.basename(images_dir)),
                             found, baseline_key='convert.single_process', notes=notes)


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


def passthrough_measurements(images_dir, work_dir, repeats):
    """Returns the Measurements: passthrough conversion, file copy and the decode check's work."""
    paths = common.list_images(images_dir)
    count = len(paths)
    out = os.path.join(work_dir, 'convert')
    os.makedirs(out, exist_ok=True)
    return [
        common.measure('convert.passthrough', 'convert_dataset.py, no resize (passthrough)',
                       lambda: scaffold_convert(images_dir, out, None), count, repeats=repeats),
        common.measure('convert.file_copy', 'copy the files into one file',
                       lambda: copy_into_one_file(paths, os.path.join(out, 'copy.bin')), count,
                       repeats=repeats),
        common.measure('convert.decode_check', "read the files and decode them with TensorFlow "
                       "at 1/8 scale (the check's work), parallel",
                       lambda: read_and_decode_check(paths), count, repeats=repeats),
    ]


def tables(images_dir, work_dir, repeats):
    """Returns the conversion tables for the images in `images_dir`."""
    return [
        whole_process_table(images_dir, work_dir, repeats),
        common.rate_table('Passthrough (no resize) against a plain file copy',
                          passthrough_measurements(images_dir, work_dir, repeats),
                          baseline_key='convert.file_copy', notes=[
                              'In one process, TensorFlow imported. A passthrough stores the bytes '
                              'unchanged but decodes every one with TensorFlow before writing it '
                              '(bytes Pillow re-encoded are not decoded again), so its floor is '
                              'the last row, not the copy.']),
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
    parser.add_argument('--photos', default=None,
                        help='a folder of your own photos in class folders instead (see '
                             'benchmarks/photo_crops.py)')
    parser.add_argument('--repeats', type=int, default=3, help='timed runs behind every median')
    parser.add_argument('--readme', default=README, help='Markdown file that gets the section')
    args = parser.parse_args(argv)
    machine = dict(common.machine_info())  # before the run, so the load average is the one it started under
    images_dir = os.path.abspath(args.photos) if args.photos else common.photo_folder(args.images)
    os.makedirs(common.DATA_DIR, exist_ok=True)
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
