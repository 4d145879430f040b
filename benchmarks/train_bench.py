"""Is training input-bound? examples/s of `run.py --mode train` with the real pipeline and with
`synthetic: true`, next to what the pipeline alone delivers (`run.py --mode benchmark_input`).

Every run uses the demo config set (48x48 images, batch 32) on the benchmark's TFRecords. The
rates come from the progress lines run.py prints every few steps; the first interval (graph
start-up) is dropped and the median of the others is the figure.
"""
import os
import re

from benchmarks import common

TITLE = 'Training: real input vs synthetic input (run.py --config_set demo)'
CONFIG_SET = 'demo'
# (model, label, extra run.py arguments); quick mode trains the first one only.
MODELS = [('cnn', 'demo cnn', []),
          ('resnet', 'resnet-20 (CIFAR stem)', ['--resnet_depth', '20'])]
RUN_TIMEOUT = 900
TRAINING_RATE = re.compile(r'([\d.]+) examples/s')
PIPELINE_RATE = re.compile(r'([\d.]+) (?:images|examples)/s')
BOUND_RATIO = 0.9


def run_py(context, arguments):
    return common.run_command([context.python, 'run.py', '--config_set', CONFIG_SET,
                               '--train_files', context.train_files,
                               '--eval_files', context.train_files] + arguments,
                              timeout=RUN_TIMEOUT)


def training_rate(context, model, extra, synthetic):
    """Returns the Measurement of examples/s of run.py training `model`."""
    steps, every = (20, 4) if context.quick else (120, 10)
    name = '%s-%s' % (model, 'synthetic' if synthetic else 'real')
    output = run_py(context, ['--mode', 'train', '--model', model, '--model_dir',
                              os.path.join(context.work_dir, name),
                              '--max_train_steps', str(steps), '--log_step_count_steps',
                              str(every), '--save_summary_steps', str(10 * steps),
                              '--save_checkpoints_steps', str(10 * steps),
                              '--random_seed', '0', '--synthetic', str(synthetic).lower()]
                    + extra)
    rates = [float(value) for value in TRAINING_RATE.findall(output)][1:]
    if not rates:
        raise common.BenchmarkError('run.py printed no examples/s lines for %s' % name)
    label = 'synthetic input' if synthetic else 'real input'
    return common.Measurement('train.%s.%s' % (model, 'synthetic' if synthetic else 'real'),
                              label, 'examples/s', rates)


def pipeline_rate(context):
    """Returns the Measurement of `run.py --mode benchmark_input` (the training input alone)."""
    runs = []
    for _ in range(1 if context.quick else context.repeats):
        output = run_py(context, ['--mode', 'benchmark_input', '--benchmark_batches',
                                  str(context.batches(20, 100))])
        found = PIPELINE_RATE.findall(output)
        if not found:
            raise common.BenchmarkError('run.py --mode benchmark_input printed no images/s figure')
        runs.append(float(found[-1]))
    return common.Measurement('train.pipeline', 'run.py --mode benchmark_input', 'images/s', runs)


def verdict(pipeline, consumed, real):
    """The plain-language answer for one model: is its training input-bound?"""
    figures = (common.format_number(pipeline), common.format_number(consumed))
    if pipeline < consumed:
        return 'input-bound: the pipeline delivers %s of the %s images/s the model consumes' % (
            figures)
    text = 'not input-bound: the pipeline delivers %s images/s, more than the %s the model ' \
           'consumes' % figures
    if real < BOUND_RATIO * consumed:
        text += '; training with real input still runs at %.0f%% of synthetic speed, because ' \
                'decoding and the model share the same CPU cores' % (100 * real / consumed)
    return text


def run(context):
    pipeline = pipeline_rate(context)
    rows, notes, measurements = [], [], [pipeline]
    for model, label, extra in MODELS[:1] if context.quick else MODELS:
        real = training_rate(context, model, extra, synthetic=False)
        synthetic = training_rate(context, model, extra, synthetic=True)
        measurements += [common.Measurement(real.key, '%s, real input' % label, real.unit,
                                            real.runs),
                         common.Measurement(synthetic.key, '%s, synthetic input' % label,
                                            synthetic.unit, synthetic.runs)]
        line = verdict(pipeline.median, synthetic.median, real.median)
        rows.append([label, common.format_number(real.median),
                     common.format_number(synthetic.median),
                     common.format_ratio(real.median / synthetic.median),
                     common.format_number(pipeline.median),
                     'yes' if line.startswith('input-bound') else 'no'])
        notes.append('- **%s**: %s.' % (label, line))
    columns = ['model', 'real input examples/s', 'synthetic examples/s', 'real / synthetic',
               'pipeline alone images/s', 'input-bound']
    notes.append('Medians of %d progress intervals per run (%s); pipeline alone: median of %d '
                 'run(s) of `run.py --mode benchmark_input` (range %s-%s images/s).' % (
                     len(real.runs), 'quick mode' if context.quick else 'full mode',
                     len(pipeline.runs), common.format_number(min(pipeline.runs)),
                     common.format_number(max(pipeline.runs))))
    if context.quick:
        notes.append('Quick mode trains the demo cnn only; the full run adds %s.' % ', '.join(
            label for _, label, _ in MODELS[1:]))
    return [common.Table(TITLE, columns, rows, notes, measurements)]
