#!/usr/bin/env python
"""Train, evaluate, export and predict with a tf.estimator built from the config sets.

    python run.py --config_set demo                    # train and evaluate
    python run.py --config_set demo --print_config     # show the merged config
    python run.py --config_set demo --mode export --checkpoint best --export_dir export
    python run.py --config_set demo --sweep learning_rate=0.01,0.001   # one run per value
"""
import importlib
import os
import sys

from library import console

console.configure(console.verbose_requested(sys.argv[1:]))  # before anything imports TensorFlow

from library import config as config_lib  # noqa: E402
from library import stop_signals, sweep_flags  # noqa: E402
from project.models import check_model_name  # noqa: E402

# Each mode is 'module:function'; the function takes (args, config, recipe) and
# returns an exit code. Modules are imported only for the mode that runs, so
# --print_config and --help stay fast.
MODES = {
    'train_and_evaluate': 'library.training:train_and_evaluate',
    'train': 'library.training:train',
    'evaluate': 'library.training:evaluate',
    'export': 'library.export:export',
    'predict': 'library.predict:predict',
    'sample': 'library.sampling:sample',
    'benchmark_input': 'library.input_benchmark:benchmark_input',
}


def add_run_time_arguments(parser):
    parser.add_argument('--mode', default='train_and_evaluate', choices=sorted(MODES),
                        help='what to do (default: train_and_evaluate)')
    parser.add_argument('--checkpoint', default='latest',
                        help="checkpoint for evaluate/export/predict/sample: latest, best or a path")
    parser.add_argument('--export_dir', default='export',
                        help='--mode export: folder that receives the SavedModel')
    parser.add_argument('--images', nargs='+', default=[],
                        help='--mode predict: image files to classify')
    parser.add_argument(console.VERBOSE_FLAG, action='store_true', help=console.VERBOSE_HELP)
    parser.add_argument('--allow_config_change', action='store_true',
                        help='resume a model_dir whose saved config differs in keys that change what '
                             'its checkpoints mean (the earlier config is kept)')
    sweep_flags.add_arguments(parser)


def project_recipe(model_name):
    """Returns the Recipe of project/: its input_fn, model_fn, the chosen model and serving preprocessing."""
    from library.recipe import Recipe
    from project import input_fn, model_fn, models
    return Recipe(input_fn=input_fn.input_fn, model_fn=model_fn.model_fn,
                  model=models.get_model(model_name),
                  preprocess_for_serving=input_fn.preprocess_for_serving)


def main(argv=None):
    """Runs the chosen mode; SIGTERM and SIGINT end it with one line (the training modes say
    at which step) and exit 143 or 130."""
    try:
        with stop_signals.raised_as_stopped():
            return run_mode(sys.argv[1:] if argv is None else list(argv))
    except stop_signals.Stopped as stop:
        sys.stderr.write('run.py: stopped by %s\n' % stop.name)
        return stop.exit_code


def run_mode(argv):
    try:
        args, config = config_lib.parse(argv, prog='run.py', description=__doc__.split('\n')[0],
                                        add_extra_arguments=add_run_time_arguments)
        if args.print_config:
            from library.config_files import printed
            sys.stdout.write(printed(config))
            return 0
        if args.sweep:
            from library import sweep
            return sweep.run_sweep(args, config, argv, run_member=main, entry_point=os.path.abspath(__file__))
        check_model_name(config['model'])
        module_name, function_name = MODES[args.mode].split(':')
        mode_function = getattr(importlib.import_module(module_name), function_name)
        return mode_function(args, config, project_recipe(config['model']))
    except config_lib.ConfigError as error:
        sys.stderr.write('run.py: error: %s\n' % error)
        return 2


if __name__ == '__main__':
    sys.exit(main())
