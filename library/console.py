"""A quiet console: TensorFlow's deprecation warnings, C++ start-up lines and autograph warnings
stay off it unless --verbose or SCAFFOLD_VERBOSE=1 asks for them.

Entry points call `configure(verbose_requested(sys.argv[1:]))` before anything imports
TensorFlow: its C++ log level is read once, when TensorFlow is imported.
"""
import logging
import os
import warnings

VERBOSE_FLAG = '--verbose'
VERBOSE_VARIABLE = 'SCAFFOLD_VERBOSE'
VERBOSE_HELP = ("show TensorFlow's warnings and C++ log lines (also: %s=1)" % VERBOSE_VARIABLE)
QUIET_LOGGERS = ('tensorflow', 'absl')
TENSORFLOW_MODULES = r'(tensorflow|tensorflow_estimator|tensorflow_hub|keras|tf_keras)(\.|$)'


def verbose_requested(argv):
    """Whether `argv` holds --verbose or the environment sets SCAFFOLD_VERBOSE to a true value."""
    return VERBOSE_FLAG in argv or os.environ.get(VERBOSE_VARIABLE, '').lower() in ('1', 'true', 'yes')


def configure(verbose):
    """Quiets TensorFlow's Python and C++ logs (or leaves them on with `verbose`); returns `verbose`.

    The environment variables also reach the processes this one starts (launcher tasks,
    conversion workers).
    """
    if verbose:
        os.environ[VERBOSE_VARIABLE] = '1'
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        return True
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')  # 3: even the cuDNN/cuFFT registration lines
    os.environ.setdefault('AUTOGRAPH_VERBOSITY', '0')
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings('ignore', category=DeprecationWarning)
    warnings.filterwarnings('ignore', category=FutureWarning)
    warnings.filterwarnings('ignore', module=TENSORFLOW_MODULES)  # e.g. tf.data's graph-mode notes
    return False
