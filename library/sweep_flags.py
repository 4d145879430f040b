"""The command-line flags of a sweep (library/sweep.py), kept free of TensorFlow so run.py --help stays fast."""
import argparse


def add_arguments(parser):
    """Adds --sweep and --sweep_workers to run.py's parser."""
    parser.add_argument('--sweep', action='append', default=[], metavar='KEY=V1,V2',
                        help='train one run per value (repeat for the grid of all combinations), each in '
                             '<model_dir>/<key>=<value>; writes <model_dir>/sweep.json')
    parser.add_argument('--sweep_workers', type=int, default=1, metavar='N',
                        help='--sweep: runs trained at once, as subprocesses (default 1: one after another)')


def without_sweep_arguments(argv):
    """Returns `argv` without --sweep and --sweep_workers: the command each run of the sweep shares."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    add_arguments(parser)
    return parser.parse_known_args(argv)[1]
