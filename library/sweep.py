"""Sweeps: `run.py ... --sweep KEY=V1,V2 [--sweep KEY2=...]` trains one run per combination of values.

Each run is the same command with `--model_dir <model_dir>/<key>=<value>[,<key>=<value>]` and
the combination's flags, so it resumes, snapshots and records exactly like a single run.
Values are checked by the config's own types and bounds before anything runs. Runs go one
after another in this process, or `--sweep_workers N` at once as subprocesses (output in
`<model_dir>/<folder>.log`). A failed run is reported and the others go on. After every run
`<model_dir>/sweep.json` is rewritten: {"runs": [{"params", "model_dir", "status" (done or
failed), "best" (metric, value, global_step from the run's best.json, or null), "command"}]}.
Rerunning the same command skips the runs it records as done with the same command and
resumes the others. The end prints a table sorted by the best metric; the exit code is 1
when any run failed.
"""
import concurrent.futures
import itertools
import json
import re
import shlex
import subprocess
import sys

import tensorflow as tf

from library import best_snapshot, files, run_lock, sweep_flags
from library import config as config_lib

SWEEP_JSON = 'sweep.json'
SWEPT_MODES = ('train_and_evaluate', 'train')
NOT_SWEPT = ('model_dir', 'best_model_dir')


def split_values(text):
    """Splits 'V1,V2' on the commas outside brackets, so list values such as [8,16] stay whole."""
    values, depth, current = [], 0, ''
    for character in text:
        depth += {'[': 1, '{': 1, ']': -1, '}': -1}.get(character, 0)
        if character == ',' and depth == 0:
            values.append(current.strip())
            current = ''
        else:
            current += character
    values.append(current.strip())
    return values


def parse_axis(spec, config, base_argv):
    """Returns (key, [(text, value)]) for one --sweep KEY=V1,V2, each value checked like a --KEY flag."""
    key, separator, text = spec.partition('=')
    key = key.strip().lstrip('-')
    if not separator or not text.strip():
        raise config_lib.ConfigError('--sweep %s: expected KEY=V1,V2[,...]' % spec)
    if key not in config:
        raise config_lib.ConfigError('--sweep %s: unknown key %r%s' % (
            spec, key, config_lib.suggestion(key, config)))
    if key in NOT_SWEPT:
        raise config_lib.ConfigError('--sweep %s: %s is set by the sweep for each run' % (spec, key))
    texts = split_values(text)
    if '' in texts or len(set(texts)) != len(texts):
        raise config_lib.ConfigError('--sweep %s: expected distinct, non-empty values' % spec)
    values = []
    for value_text in texts:
        try:
            parsed = config_lib.parse(base_argv + ['--' + key, value_text])[1]
        except config_lib.ConfigError as error:
            raise config_lib.ConfigError('--sweep %s: %s' % (spec, error)) from None
        values.append((value_text, parsed[key]))
    return key, values


def folder_name(combination):
    """Returns '<key>=<value>[,<key>=<value>]' for [(key, text, value)], safe as one folder name."""
    return ','.join('%s=%s' % (key, re.sub(r'[^\w.+\-=\[\],]', '_', text.replace(' ', '')))
                    for key, text, _ in combination)


def plan(specs, config, base_argv):
    """Returns the runs of the sweep: [{'name', 'params', 'model_dir', 'argv'}] for every combination."""
    axes = [parse_axis(spec, config, base_argv) for spec in specs]
    keys = [key for key, _ in axes]
    if len(set(keys)) != len(keys):
        raise config_lib.ConfigError('--sweep: each key once, got %s' % ', '.join(keys))
    runs = []
    for values in itertools.product(*[values for _, values in axes]):
        combination = [(key, text, value) for key, (text, value) in zip(keys, values)]
        name = folder_name(combination)
        model_dir = files.join(config['model_dir'], name)
        argv = base_argv + ['--model_dir', model_dir]
        if config['best_model_dir']:
            argv += ['--best_model_dir', files.join(config['best_model_dir'], name)]
        for key, text, _ in combination:
            argv += ['--' + key, text]
        runs.append({'name': name, 'params': {key: value for key, _, value in combination},
                     'model_dir': model_dir, 'argv': argv,
                     'best_dir': files.join(config['best_model_dir'] or model_dir,
                                            name if config['best_model_dir'] else 'best')})
    if len({run['name'] for run in runs}) != len(runs):
        raise config_lib.ConfigError('--sweep: two values give the same folder name: %s' % ', '.join(
            sorted(run['name'] for run in runs)))
    return runs


def best_of(best_dir):
    """Returns {'metric', 'value', 'global_step'} of the run's best.json, or None."""
    try:
        record = best_snapshot.read_record(best_dir)
    except config_lib.ConfigError:
        return None
    if record is None:
        return None
    return {key: record[key] for key in ('metric', 'value', 'global_step')}


def read_earlier(model_dir):
    """Returns {run model_dir: entry} of an earlier sweep.json in `model_dir` ({} when there is none)."""
    path = files.join(model_dir, SWEEP_JSON)
    if not tf.io.gfile.exists(path):
        return {}
    try:
        with tf.io.gfile.GFile(path) as stream:
            return {entry['model_dir']: entry for entry in json.load(stream)['runs']}
    except (ValueError, KeyError, TypeError):
        return {}


def entry(run, status):
    return {'params': run['params'], 'model_dir': run['model_dir'], 'status': status,
            'best': best_of(run['best_dir']), 'command': command_line(run)}


def command_line(run):
    return shlex.join(['python', 'run.py'] + run['argv'])


def write_record(model_dir, runs, entries):
    """Rewrites <model_dir>/sweep.json with the entries of the finished runs, in grid order."""
    record = {'runs': [entries[run['name']] for run in runs if run['name'] in entries]}
    files.write_atomically(files.join(model_dir, SWEEP_JSON), json.dumps(record, indent=2) + '\n')


def run_in_process(run_member, argv):
    """Runs one member with `run_member(argv)`; returns its exit code (1 for an unexpected exception)."""
    try:
        return run_member(argv)
    except SystemExit as error:
        return error.code if isinstance(error.code, int) else 1
    except Exception as error:  # a run that fails must not stop the sweep
        sys.stderr.write('run.py: error: %s: %s\n' % (type(error).__name__, error))
        return 1


def run_subprocess(command, log_path):
    """Runs `command` with its output in `log_path`; returns (exit code, last line of the output).

    On the local disk the log grows while the run trains; elsewhere it is written at the end.
    """
    if files.is_local(log_path):
        with open(log_path, 'w') as log:
            code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT)
        with open(log_path) as log:
            output = log.read()
    else:
        completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        code, output = completed.returncode, completed.stdout
        files.write_atomically(log_path, output)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return code, lines[-1] if lines else ''


def say(text):
    sys.stdout.write(text + '\n')
    sys.stdout.flush()


def report(run, code, detail=''):
    status = 'done' if code == 0 else 'failed'
    say('sweep: %s %s (exit %d)%s' % (run['name'], status, code, ': ' + detail if detail else ''))
    return status


def run_all(pending, workers, run_member, entry_point, model_dir, on_finished):
    """Runs the `pending` runs (one after another, or `workers` at once as subprocesses)."""
    if workers <= 1:
        for index, run in enumerate(pending):
            say('sweep: run %d of %d: %s in %s' % (index + 1, len(pending), run['name'], run['model_dir']))
            on_finished(run, report(run, run_in_process(run_member, run['argv'])))
        return
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = {}
        for run in pending:
            log = files.join(model_dir, run['name'] + '.log')
            say('sweep: starting %s in %s (output in %s)' % (run['name'], run['model_dir'], log))
            futures[pool.submit(run_subprocess, [sys.executable, entry_point] + run['argv'], log)] = run
        for future in concurrent.futures.as_completed(futures):
            code, last_line = future.result()
            on_finished(futures[future], report(futures[future], code, last_line if code else ''))


def sort_key(item, mode):
    """Orders done runs with a best value first (best first by `mode`), then the rest."""
    best = item['best']
    if item['status'] != 'done' or best is None or not best_snapshot.is_finite_number(best['value']):
        return (1, 0.0)
    return (0, -best['value'] if mode == 'max' else best['value'])


def table(runs, entries, mode):
    """Returns the lines of the final table, sorted by the best metric."""
    rows = sorted(((run['name'], entries[run['name']]) for run in runs if run['name'] in entries),
                  key=lambda row: sort_key(row[1], mode))
    width = max([len(name) for name, _ in rows] + [3])
    lines = ['%-*s  %-6s  %s' % (width, 'run', 'status', 'best')]
    for name, item in rows:
        best = item['best']
        shown = '%s %.6g at step %d' % (best['metric'], best['value'], best['global_step']) if best else '-'
        lines.append('%-*s  %-6s  %s' % (width, name, item['status'], shown))
    return lines


def run_sweep(args, config, argv, run_member, entry_point):
    """Runs the sweep of `args.sweep` over the command `argv`; returns the exit code (1 if any run failed)."""
    if args.mode not in SWEPT_MODES:
        raise config_lib.ConfigError('--sweep works with --mode %s, not %s' % (
            ' or '.join(SWEPT_MODES), args.mode))
    if args.sweep_workers < 1:
        raise config_lib.ConfigError('--sweep_workers must be at least 1, got %d' % args.sweep_workers)
    base_argv = sweep_flags.without_sweep_arguments(argv)
    runs = plan(args.sweep, config, base_argv)
    model_dir = config['model_dir']
    with run_lock.RunLock(model_dir):
        earlier = read_earlier(model_dir)
        entries = {}
        for run in runs:
            before = earlier.get(run['model_dir'])
            if before and before.get('status') == 'done' and before.get('command') == command_line(run):
                say('sweep: %s already done; skipped' % run['name'])
                entries[run['name']] = entry(run, 'done')
        write_record(model_dir, runs, entries)

        def on_finished(run, status):
            entries[run['name']] = entry(run, status)
            write_record(model_dir, runs, entries)
        pending = [run for run in runs if run['name'] not in entries]
        run_all(pending, args.sweep_workers, run_member, entry_point, model_dir, on_finished)
    for line in table(runs, entries, config['best_mode']):
        say(line)
    say('sweep record: %s' % files.join(model_dir, SWEEP_JSON))
    failed = [name for name, item in entries.items() if item['status'] != 'done']
    if failed:
        say('sweep: %d of %d runs failed: %s' % (len(failed), len(runs), ', '.join(sorted(failed))))
        return 1
    return 0
