#!/usr/bin/env python
"""Convert image folders or NumPy arrays to sharded TFRecords plus <name>.json.

    python convert_dataset.py --dataset_dir dataset/train --tfrecord_filename train \\
        --tfrecord_dir dataset/train --max_edge 384
    python convert_dataset.py --dataset_dir dataset/test --tfrecord_filename test \\
        --tfrecord_dir dataset/test --max_edge 384 --labels_file dataset/train/train.json
"""
import sys
from concurrent.futures.process import BrokenProcessPool

from library import console, encode_pool
from library.config import ConfigError, OneLineParser
from library.image_files import encode_options

PROG = 'convert_dataset.py'


def build_parser():
    parser = OneLineParser(prog=PROG, description=__doc__.split('\n')[0])
    parser.add_argument('--dataset_dir', required=True,
                        help='folder of class sub-folders, a flat folder of images, or a .npz/.npy '
                             'file with "images" (N,H,W[,C] uint8) and optional "labels"')
    parser.add_argument('--tfrecord_filename', required=True,
                        help='output name: NAME-00000-of-000NN.tfrecord shards and NAME.json')
    parser.add_argument('--tfrecord_dir', required=True, help='folder that receives the shards')
    parser.add_argument('--max_edge', type=int, default=None,
                        help='downscale images whose longer edge exceeds this many pixels')
    parser.add_argument('--resize', default=None, metavar='WxH',
                        help='resize every image to exactly this size, such as 224x224')
    parser.add_argument('--num_shards', type=int, default=None,
                        help='number of shards (default: one per ~150 MB, at least 1)')
    parser.add_argument('--num_workers', type=int, default=None,
                        help='worker processes (default: all cores; 1 converts in this process)')
    parser.add_argument('--labels_file', default=None,
                        help="class names in label order: a converted set's NAME.json or one name "
                             'per line (so train and test agree)')
    parser.add_argument('--unlabelled', action='store_true',
                        help='ignore sub-folders and labels; every image gets label -1')
    parser.add_argument('--format', dest='image_format', default='jpeg', choices=('jpeg', 'png'),
                        help='encoding of images that are re-encoded (JPEGs needing no change are '
                             'always kept byte-for-byte)')
    parser.add_argument('--channels', type=int, default=None, choices=(1, 3),
                        help='store every image with 1 (grayscale) or 3 (RGB) channels '
                             "(default: keep each image's own)")
    parser.add_argument('--quality', type=int, default=95, help='JPEG quality of re-encoded images')
    parser.add_argument('--resample', default='bilinear',
                        choices=('nearest', 'bilinear', 'bicubic', 'lanczos'),
                        help='filter that downscales images (default bilinear: the training input '
                             'resizes every crop again; lanczos is sharper and about 2x slower)')
    parser.add_argument('--strict', action='store_true',
                        help='any file that cannot be converted is an error (exit 2)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the shuffle that mixes classes across shards')
    parser.add_argument(console.VERBOSE_FLAG, action='store_true', help=console.VERBOSE_HELP)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    console.configure(args.verbose or console.verbose_requested([]))
    num_workers = encode_pool.default_num_workers() if args.num_workers is None else args.num_workers
    try:
        options = encode_options(args.image_format, args.quality, args.max_edge, args.resize,
                                 args.channels, args.resample)
    except ConfigError as error:
        sys.stderr.write('%s: error: %s\n' % (PROG, error))
        return 2
    with encode_pool.started(num_workers) as workers:
        if workers:
            workers.start_early(args.dataset_dir, options)
        return run_conversion(args, num_workers, workers)


def run_conversion(args, num_workers, workers):
    """Runs the conversion with `workers` (already encoding); returns the exit status."""
    # Imported here, not at the top: worker processes re-import this file and
    # must stay free of TensorFlow, which takes seconds to import (and the
    # workers encode meanwhile).
    import tensorflow as tf

    from library import convert, stop_signals
    try:
        summary = convert.convert_folder(
            args.dataset_dir, args.tfrecord_dir, args.tfrecord_filename,
            max_edge=args.max_edge, resize=args.resize, num_shards=args.num_shards,
            num_workers=num_workers, labels_file=args.labels_file,
            unlabelled=args.unlabelled, image_format=args.image_format, channels=args.channels,
            strict=args.strict, seed=args.seed, quality=args.quality, resample=args.resample,
            workers=workers)
    except ConfigError as error:
        sys.stderr.write('%s: error: %s\n' % (PROG, error))
        return 2
    except stop_signals.Stopped as stop:
        sys.stderr.write('%s: interrupted by %s; earlier output in %s is unchanged\n' % (
            PROG, stop.name, args.tfrecord_dir))
        return stop.exit_code
    except BrokenProcessPool:
        sys.stderr.write('%s: error: an encoding worker process died (killed, or out of memory?); '
                         'earlier output in %s is unchanged\n' % (PROG, args.tfrecord_dir))
        return 1
    except tf.errors.OpError as error:  # a write failed: disk full, file too large
        sys.stderr.write('%s: error: %s; earlier output in %s is unchanged\n' % (
            PROG, error.message, args.tfrecord_dir))
        return 1
    print(convert.summary_line(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
