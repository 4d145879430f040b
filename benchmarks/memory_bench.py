"""Memory of `cache: memory`: peak RSS of the input pipeline with the cache against without it,
and the growth against the cache size input_fn predicts (the figure it checks against free RAM).

Each measurement is a fresh child process (`python -m benchmarks.memory_bench --probe ...`)
that builds project.input_fn for the benchmark's TFRecords at 224x224, batch 64, reads two
epochs and prints its peak resident set size (VmHWM), so no other measurement's memory counts.
"""
import argparse
import json
import os
import statistics
import sys

from benchmarks import common

TITLE = 'Memory: peak RSS with cache: memory vs cache: none (2 epochs, 224x224, batch 64)'
MODES = [('eval', 'evaluation input_fn'), ('train', 'training input_fn')]
PROBE_TIMEOUT = 1800
FULL_RUNS = 3  # probes per setting in the full run (peak memory varies little between runs)


def probe_arguments(context, mode, cache):
    return [context.python, '-m', 'benchmarks.memory_bench', '--probe', '--mode', mode,
            '--cache', cache, '--train_files', context.train_files,
            '--image_size', str(context.crop_size), '--batch_size', str(context.batch_size)]


def probe(context, mode, cache):
    """Runs one probe process; returns its JSON report."""
    output = common.run_command(probe_arguments(context, mode, cache), timeout=PROBE_TIMEOUT)
    lines = [line for line in output.splitlines() if line.startswith('{')]
    if not lines:
        raise common.BenchmarkError('the memory probe printed no result: %s' % output[-300:])
    return json.loads(lines[-1])


def run(context):
    runs = 1 if context.quick else min(FULL_RUNS, context.repeats)
    rows, measurements = [], []
    for mode, label in MODES[:1] if context.quick else MODES:
        without = [probe(context, mode, 'none') for _ in range(runs)]
        cached = [probe(context, mode, 'memory') for _ in range(runs)]
        peak_without = statistics.median(report['peak_rss'] for report in without)
        peak_cached = statistics.median(report['peak_rss'] for report in cached)
        predicted = cached[0]['predicted_cache_bytes']
        growth = peak_cached - peak_without
        rows.append([label, cached[0]['examples'], common.mib(peak_without),
                     common.mib(peak_cached), common.mib(growth), common.mib(predicted),
                     common.format_ratio(growth / predicted) if predicted else '-'])
        measurements.append(common.Measurement(
            'memory.%s.growth' % mode, '%s: peak RSS growth' % label, 'MiB',
            [(report['peak_rss'] - peak_without) / 2 ** 20 for report in cached]))
    notes = ['Peak RSS is the VmHWM of a fresh process; growth = median peak with the cache - '
             'median peak without it (%d run%s each). The prediction is '
             '`library.data.cache.memory_cache_bytes`, which `cache: memory` checks against the '
             'available RAM before it starts. The training cache holds decoded images before '
             'the random crop (shorter side cache_image_size, 0 = image_size); the evaluation '
             'cache holds the finished float32 images. Without the cache the training shuffle buffer '
             '(shuffle_buffer examples) holds encoded records instead, which the cache makes '
             'unnecessary, so on a data set smaller than that buffer the training growth stays '
             'below the prediction.' % (runs, '' if runs == 1 else 's')]
    columns = ['pipeline', 'examples', 'peak RSS, cache: none', 'peak RSS, cache: memory',
               'growth', 'predicted cache size', 'growth / predicted']
    return [common.Table(TITLE, columns, rows, notes, measurements)]


def probe_main(args):
    """Child side: reads two epochs through input_fn and prints {peak_rss, ...} as JSON."""
    import tensorflow as tf

    from library import config as config_lib
    from library import estimator as estimator_lib
    from library.data import cache as cache_lib
    from library.data import shards
    from project import input_fn as input_lib
    from project.models import get_model

    _, config = config_lib.parse([
        '--train_files', args.train_files, '--eval_files', args.train_files,
        '--image_size', str(args.image_size), '--train_batch_size', str(args.batch_size),
        '--eval_batch_size', str(args.batch_size), '--cache', args.cache,
        '--random_seed', '0', '--prefetch_to_device', 'none'], prog='benchmarks.memory_bench')
    params = estimator_lib.make_params(config, get_model(config['model']))
    training = args.mode == 'train'
    files = shards.matching_files(args.train_files, 'train_files')
    predicted = cache_lib.memory_cache_bytes(params, files, training)
    if training:
        dataset = input_lib.input_fn(tf.estimator.ModeKeys.TRAIN, params, epochs=2)
    else:
        dataset = input_lib.input_fn(tf.estimator.ModeKeys.EVAL, params).repeat(2)
    examples = sum(int(features['image'].shape[0]) for features, _ in dataset)
    report = {'peak_rss': common.peak_rss_bytes(), 'predicted_cache_bytes': predicted,
              'examples': examples // 2, 'mode': args.mode, 'cache': args.cache}
    sys.stdout.write(json.dumps(report) + '\n')
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description='one memory probe (run by the benchmark)')
    parser.add_argument('--probe', action='store_true', required=True)
    parser.add_argument('--mode', choices=[mode for mode, _ in MODES], required=True)
    parser.add_argument('--cache', choices=['none', 'memory'], required=True)
    parser.add_argument('--train_files', required=True)
    parser.add_argument('--image_size', type=int, default=common.CROP_SIZE)
    parser.add_argument('--batch_size', type=int, default=common.BATCH_SIZE)
    return probe_main(parser.parse_args(argv))


if __name__ == '__main__':
    os.chdir(common.REPO_ROOT)
    sys.exit(main())
