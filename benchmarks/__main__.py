"""Runs every benchmark on this machine and writes benchmarks/RESULTS.md.

    python -m benchmarks                 # full run (1,000 photo-like JPEGs, 5 runs per figure)
    python -m benchmarks --quick         # the same benchmarks, smaller: about 3 minutes on 2 cores
    python -m benchmarks --images DIR    # on your own JPEG/PNG folder (class subfolders optional)

Each benchmark module runs in a child process of this one (a fresh TensorFlow, no thread
pools shared between measurements); every figure is the median of several runs, and every
ratio compares two figures measured in this same run.
"""
import argparse
import importlib
import json
import os
import resource
import shlex
import shutil
import sys
import tempfile
import time

from benchmarks import common

MODULES = ['convert_bench', 'input_bench', 'keras_bench', 'torch_bench', 'train_bench',
           'memory_bench', 'distribution_bench']
DEFAULT_OUTPUT = os.path.join(common.REPO_ROOT, 'benchmarks', 'RESULTS.md')
TRAIN_PIPELINE = 'input.train'
MAX_SHARDS = 8
IMAGES_PER_SHARD = 32

# (figure, compared with, target ratio): the targets of the benchmark issues.
TARGETS = [
    (TRAIN_PIPELINE, 'input.limit_flip', 0.95),
    (TRAIN_PIPELINE, 'input.classic_parallel', 1.3),
    (TRAIN_PIPELINE, 'keras.image_dataset_from_directory', 1.15),
    (TRAIN_PIPELINE, 'torch.dataloader', 2.0),
    ('convert.scaffold', 'convert.single_process', 1.8),
]
SIDE_BY_SIDE_PREFIXES = ('input.', 'keras.', 'torch.')
SIDE_BY_SIDE_BASELINE = 'input.classic_parallel'

HOW_TO_READ = """\
How to read these tables: every figure is the median of `n` timed runs (the range shows the
slowest and fastest run) after untimed warm-up; a ratio divides two medians measured in this
same run on this machine, so ratios carry over to other machines far better than the absolute
figures do. Input pipelines produce 224x224 training crops in batches of 64 from the same
images (the data row says which). A row that says *Skipped* names what was missing. Figures taken while other
programs load the machine (see the load average) come out lower and noisier: rerun on an idle
machine before drawing conclusions. Rows of one table are measured back to back (the input
pipelines round-robin), while the Summary also compares figures of different modules, taken
minutes apart, so on a busy machine those cross-module ratios are the least reliable."""


def parse_arguments(argv):
    parser = argparse.ArgumentParser(prog='python -m benchmarks', description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='fewer images, batches and runs (about 3 minutes on 2 cores)')
    parser.add_argument('--images', metavar='DIR',
                        help='your own folder of JPEG/PNG images instead of generated photo-like '
                             'ones (class subfolders optional)')
    parser.add_argument('--output', default=DEFAULT_OUTPUT,
                        help='Markdown file to write (default: benchmarks/RESULTS.md)')
    parser.add_argument('--only', nargs='+', choices=MODULES, metavar='MODULE',
                        help='run only these benchmark modules (%s)' % ', '.join(MODULES))
    parser.add_argument('--repeats', type=int,
                        help='timed runs behind every median (default 3 quick, 5 full)')
    parser.add_argument('--run_module', help=argparse.SUPPRESS)
    parser.add_argument('--context', help=argparse.SUPPRESS)
    parser.add_argument('--result', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error('--repeats must be at least 1, got %d' % args.repeats)
    if args.images and not os.path.isdir(args.images):
        parser.error('--images %s: not a folder' % args.images)
    if args.images and not common.list_images(args.images):
        parser.error('--images %s: no .jpg, .jpeg or .png files in it' % args.images)
    return args


def run_module_here(name, context_path, result_path):
    """Child-process side: runs one module's run(context) and writes its tables as JSON."""
    module = importlib.import_module('benchmarks.' + name)
    tables = module.run(common.Context.load(context_path))
    with open(result_path + '.tmp', 'w') as stream:
        json.dump([table.to_json() for table in tables], stream)
    os.replace(result_path + '.tmp', result_path)
    return 0


def say(text):
    sys.stderr.write(text + '\n')
    sys.stderr.flush()


def converted_records(images_dir, records_dir, reuse):
    """Returns the TFRecord pattern of `images_dir` converted without resizing (up to 8 shards,
    so interleaved reading has files to interleave); with `reuse`, converts only once."""
    pattern = os.path.join(records_dir, 'bench-*.tfrecord')
    description = os.path.join(records_dir, 'bench.json')
    if reuse and os.path.exists(description):
        return pattern
    shutil.rmtree(records_dir, ignore_errors=True)
    shards = min(MAX_SHARDS, max(1, len(common.list_images(images_dir)) // IMAGES_PER_SHARD))
    command = [sys.executable, 'convert_dataset.py', '--dataset_dir', images_dir,
               '--tfrecord_filename', 'bench', '--tfrecord_dir', records_dir,
               '--num_shards', str(shards)]
    if not common.has_class_folders(images_dir):
        command.append('--unlabelled')
    common.run_command(command, timeout=1800)
    return pattern


def make_context(args, work_dir):
    """Prepares the images and their TFRecords and returns the Context for every module."""
    if args.images:
        images_dir = os.path.abspath(args.images)
        records_dir = os.path.join(work_dir, 'records')
    else:
        images_dir = common.photo_folder(320 if args.quick else 1000)
        records_dir = images_dir + '-records'
    started = time.perf_counter()
    train_files = converted_records(images_dir, records_dir, reuse=not args.images)
    say('data: %s (%d images), records %s (%.0f s)' % (
        images_dir, len(common.list_images(images_dir)), train_files,
        time.perf_counter() - started))
    return common.Context(quick=args.quick, repeats=args.repeats or (3 if args.quick else 5),
                          images_dir=images_dir,
                          image_count=len(common.list_images(images_dir)),
                          train_files=train_files, work_dir=work_dir)


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def module_tables(name, context, timeout):
    """Runs benchmark module `name` in a child process; returns (tables, wall s, CPU s)."""
    module_dir = os.path.join(context.work_dir, name)
    os.makedirs(module_dir, exist_ok=True)
    module_context = common.Context(**dict(vars(context), work_dir=module_dir))
    context_path = os.path.join(module_dir, 'context.json')
    result_path = os.path.join(module_dir, 'result.json')
    module_context.save(context_path)
    started, cpu_started = time.perf_counter(), children_cpu_seconds()
    try:
        common.run_command([sys.executable, '-m', 'benchmarks', '--run_module', name,
                            '--context', context_path, '--result', result_path],
                           timeout=timeout)
        with open(result_path) as stream:
            tables = [common.Table.from_json(item) for item in json.load(stream)]
    except common.BenchmarkError as error:
        tables = [common.skipped_table(name, 'the benchmark failed: %s' % error)]
    return tables, (time.perf_counter() - started, children_cpu_seconds() - cpu_started)


def all_measurements(tables_by_module):
    return {item.key: item for tables in tables_by_module.values() for table in tables
            for item in table.measurements}


def targets_table(measurements):
    """The issue's targets: this scaffold against the alternatives, measured in this run."""
    rows = []
    for figure, other, target in TARGETS:
        if figure not in measurements or other not in measurements:
            missing = other if figure in measurements else figure
            rows.append([figure, other, '-', '>= %.2fx' % target, 'not measured (%s)' % missing])
            continue
        ratio = measurements[figure].median / measurements[other].median
        shown = common.format_ratio(ratio)
        if ratio < target and round(ratio, 2) >= target:
            shown = '%.3fx' % ratio  # so that a missed target never reads as reached
        rows.append(['%s: %s' % (measurements[figure].label,
                                 common.format_number(measurements[figure].median)),
                     '%s: %s' % (measurements[other].label,
                                 common.format_number(measurements[other].median)),
                     shown, '>= %.2fx' % target, 'met' if ratio >= target else 'missed'])
    return common.Table('Targets', ['this scaffold', 'compared with', 'ratio', 'target', 'verdict'],
                        rows)


def side_by_side_table(measurements):
    """Every input pipeline in one table, relative to the classic TF pipeline."""
    chosen = [item for key, item in measurements.items() if key.startswith(SIDE_BY_SIDE_PREFIXES)
              and item.unit == 'images/s']
    if not chosen:
        return None
    return common.rate_table('Input pipelines side by side (224x224 output, batch 64)', chosen,
                             baseline_key=SIDE_BY_SIDE_BASELINE, name_column='pipeline')


def data_description(args, context):
    paths = common.list_images(context.images_dir)
    kind = 'images of yours from %s' % context.images_dir if args.images else (
        'generated photo-like %dx%d JPEGs (quality %d)' % (
            common.IMAGE_SIZE, common.IMAGE_SIZE, common.JPEG_QUALITY))
    return '%d %s, mean %.0f kB per file; TFRecords converted without resizing' % (
        len(paths), kind, common.folder_bytes(paths) / len(paths) / 1e3)


def results_markdown(args, argv, machine, tables_by_module, seconds_by_module, total_seconds,
                     total_cpu_seconds):
    measurements = all_measurements(tables_by_module)
    command = 'python -m benchmarks' + ''.join(' ' + shlex.quote(item) for item in argv)
    parts = ['# Benchmark results', '',
             'Written by `%s` (%s mode) in %.0f s, %.0f s of CPU time; never edited by hand.' % (
                 command, 'quick' if args.quick else 'full', total_seconds, total_cpu_seconds),
             '',
             common.markdown_table(['', ''], machine), '', HOW_TO_READ, '',
             '## Summary', '', targets_table(measurements).markdown()]
    side_by_side = side_by_side_table(measurements)
    if side_by_side is not None:
        parts += ['', side_by_side.markdown()]
    for name, tables in tables_by_module.items():
        parts += ['', '## %s (%.0f s, %.0f s of CPU)' % ((name,) + seconds_by_module[name]), '']
        parts += [table.markdown() for table in tables]
    return '\n'.join(parts).rstrip() + '\n'


def write_results(path, text):
    """Writes the results file atomically (library.files imports TensorFlow: only here, so the harness stays light)."""
    from library.files import write_atomically
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomically(path, text)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_arguments(argv)
    if args.run_module:
        return run_module_here(args.run_module, args.context, args.result)
    started = time.perf_counter()
    machine = common.machine_info()
    os.makedirs(common.DATA_DIR, exist_ok=True)
    timeout = 600 if args.quick else 7200
    with tempfile.TemporaryDirectory(prefix='run-', dir=common.DATA_DIR) as work_dir:
        try:
            context = make_context(args, work_dir)
        except common.BenchmarkError as error:
            say('benchmarks: error: could not prepare the data: %s' % error)
            return 1
        tables_by_module, seconds_by_module = {}, {}
        for index, name in enumerate(args.only or MODULES, 1):
            say('[%d/%d] %s ...' % (index, len(args.only or MODULES), name))
            tables_by_module[name], seconds_by_module[name] = module_tables(name, context, timeout)
            say('[%d/%d] %s done in %.0f s (%.0f s of CPU)' % (
                (index, len(args.only or MODULES), name) + seconds_by_module[name]))
        machine.append(('data', data_description(args, context)))
    text = results_markdown(args, argv, machine, tables_by_module, seconds_by_module,
                            time.perf_counter() - started, children_cpu_seconds())
    write_results(args.output, text)
    say('wrote %s (%.0f s)' % (args.output, time.perf_counter() - started))
    return 0


if __name__ == '__main__':
    sys.exit(main())
