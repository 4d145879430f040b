"""Training examples/s of the demo cnn on 1 CPU worker against 2 local workers (library.launch).

    python -m benchmarks.distribution_bench            # full run; updates '## Distribution'
    python -m benchmarks.distribution_bench --quick    # shorter runs     in benchmarks/README.md

Rows: one process (distribution none); two MultiWorkerMirrored workers sharing the same global
batch of 32 (16 per worker, the same steps and learning rate as one worker); two such workers
with a global batch of 64 (32 per worker: twice the examples per step, so the linear scaling
rule doubles the learning rate); and two asynchronous parameter-server workers with one ps
task (32 per update). All tasks of a local cluster share this machine's cores, so on a
2-core machine little gain is expected: the point is that the figure is measured. Rates come
from the chief's progress lines (examples of the whole cluster per second); the first
interval (start-up) is dropped and the median of the others is the figure. When a GPU is
visible, two more rows train on one GPU with and without prefetch_to_device.
"""
import argparse
import os
import re
import shlex
import sys
import tempfile

from benchmarks import common

TITLE = 'Distribution: 1 vs 2 CPU workers (run.py --config_set demo --mode train)'
README = os.path.join(common.REPO_ROOT, 'benchmarks', 'README.md')
SECTION = '## Distribution'
RUN_TIMEOUT = 1200
CHIEF_RATE = re.compile(r'^(?:\[chief\] )?step \d+(?:/\d+)?  loss \S+  ([\d.]+) examples/s',
                        re.MULTILINE)
# (key, label, launcher arguments or None for one plain process, run.py arguments)
SETUPS = [
    ('one', '1 worker, batch 32', None, []),
    ('multi_worker', '2 workers MultiWorkerMirrored, global batch 32 (16 each)',
     ['--workers', '2'], []),
    ('multi_worker_scaled', '2 workers MultiWorkerMirrored, global batch 64 (32 each)',
     ['--workers', '2'], ['--train_batch_size', '64']),
    ('parameter_server', '2 workers + 1 ps, asynchronous, 32 per update',
     ['--workers', '2', '--ps', '1'], []),
]
QUICK_SETUPS = 2  # quick mode: one worker against two synchronous workers
GPU_SETUPS = [
    ('gpu_prefetch', '1 GPU, prefetch_to_device /gpu:0', None, ['--prefetch_to_device', '/gpu:0']),
    ('gpu_no_prefetch', '1 GPU, prefetch_to_device none', None, ['--prefetch_to_device', 'none']),
]
GPU_COUNT = 'import tensorflow as tf; print(len(tf.config.list_physical_devices("GPU")))'


def visible_gpus(context):
    output = common.run_command([context.python, '-c', GPU_COUNT], timeout=300)
    return int(output.strip().splitlines()[-1])


def command_for(context, launcher, arguments, model_dir):
    """Returns the command line of one setup: run.py alone or under library.launch."""
    steps, every = (30, 5) if context.quick else (120, 10)
    run_py = ['run.py', '--config_set', 'demo', '--mode', 'train',
              '--train_files', context.train_files, '--eval_files', context.train_files,
              '--model_dir', model_dir, '--max_train_steps', str(steps),
              '--log_step_count_steps', str(every), '--save_summary_steps', str(10 * steps),
              '--save_checkpoints_steps', str(10 * steps), '--random_seed', '0'] + arguments
    if launcher is None:
        return [context.python] + run_py
    return [context.python, '-m', 'library.launch'] + launcher + ['--'] + run_py


def measure_setup(context, key, label, launcher, arguments):
    """Returns the Measurement of one setup's examples/s (one run, its progress intervals)."""
    model_dir = os.path.join(context.work_dir, key)
    output = common.run_command(command_for(context, launcher, arguments, model_dir),
                                timeout=RUN_TIMEOUT)
    rates = [float(value) for value in CHIEF_RATE.findall(output)][1:]
    if not rates:
        raise common.BenchmarkError('%s printed no examples/s progress lines' % label)
    return common.Measurement('distribution.%s' % key, label, 'examples/s', rates)


def run(context):
    measurements, failures = [], []
    gpus = visible_gpus(context)
    setups = (SETUPS[:QUICK_SETUPS] if context.quick else SETUPS) + (GPU_SETUPS if gpus else [])
    for key, label, launcher, arguments in setups:
        try:
            measurements.append(measure_setup(context, key, label, launcher, arguments))
        except common.BenchmarkError as error:
            failures.append('- Not measured: **%s**: %s' % (label, error))
    if not measurements:
        raise common.BenchmarkError('no setup ran: %s' % ' '.join(failures))
    steps = 30 if context.quick else 120
    shown = command_for(context, SETUPS[1][2], SETUPS[1][3], 'MODEL_DIR')
    shown = ['python'] + [os.path.relpath(part, common.REPO_ROOT) if part.startswith(
        common.REPO_ROOT) else part for part in shown[1:]]
    notes = failures + [
        'Medians over the progress intervals of one run of %d steps per row (%s mode); the '
        'runs column shows the slowest and fastest interval.' % (
            steps, 'quick' if context.quick else 'full'),
        'A 2-worker row runs `%s`.' % ' '.join(shlex.quote(part) for part in shown),
        'Batch rule: train_batch_size is the global batch; with k times the batch, use k times '
        'the learning rate (see docs/distributed.md).',
    ]
    if context.quick:
        notes += ['Quick mode measures the first %d setups only; the full mode adds %s.' % (
            QUICK_SETUPS, ', '.join(label for _, label, _, _ in SETUPS[QUICK_SETUPS:]))]
    if not gpus:
        notes += ['No GPU on this machine: the 1-GPU rows (with and without '
                      'prefetch_to_device) were not measured; they appear when a GPU is visible.']
    return [common.rate_table(TITLE, measurements, baseline_key='distribution.one', notes=notes,
                              name_column='setup')]


def replace_section(text, section, body):
    """Returns `text` with markdown `section` (up to the next '## ') replaced by `body`."""
    start = text.find(section + '\n')
    if start < 0:
        return text.rstrip() + ('\n\n' if text.strip() else '') + section + '\n\n' + body
    end = text.find('\n## ', start + len(section))
    rest = '' if end < 0 else text[end + 1:]
    return text[:start] + section + '\n\n' + body + ('\n' + rest if rest else '')


def write_readme_section(tables, command, machine):
    """Writes the tables under '## Distribution' of benchmarks/README.md, keeping other sections; `machine` is
    common.machine_info() read before the run."""
    body = ('Measured by `%s` on %s (%s, %s, load average at start %s).\n\n' % (
        command, machine['date'], machine['machine'], machine['cores'],
        machine['load average at start']) + '\n'.join(table.markdown() for table in tables))
    text = ''
    if os.path.exists(README):
        with open(README) as stream:
            text = stream.read()
    text = replace_section(text, SECTION, body)
    with tempfile.NamedTemporaryFile('w', dir=os.path.dirname(README), delete=False,
                                     suffix='.tmp') as stream:
        stream.write(text)
    os.replace(stream.name, README)


def main(argv=None):
    from benchmarks.__main__ import converted_records
    parser = argparse.ArgumentParser(prog='python -m benchmarks.distribution_bench',
                                     description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='30 steps per row instead of 120')
    args = parser.parse_args(argv)
    machine = dict(common.machine_info())  # before the run, so the load average is the one it started under
    images = common.photo_folder(320 if args.quick else 1000)
    train_files = converted_records(images, images + '-records', reuse=True)
    os.makedirs(common.DATA_DIR, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='distribution-', dir=common.DATA_DIR) as work_dir:
        context = common.Context(quick=args.quick, repeats=1, images_dir=images,
                                 image_count=len(common.list_images(images)),
                                 train_files=train_files, work_dir=work_dir)
        tables = run(context)
    command = 'python -m benchmarks.distribution_bench' + (' --quick' if args.quick else '')
    write_readme_section(tables, command, machine)
    sys.stdout.write(''.join(table.markdown() for table in tables))
    return 0


if __name__ == '__main__':
    sys.exit(main())
