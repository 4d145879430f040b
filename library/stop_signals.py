"""SIGTERM and SIGINT as an exception, so a stopped run leaves through its `finally` blocks.

Kubernetes, `timeout` and `docker stop` send SIGTERM, Ctrl-C sends SIGINT. Both
raise Stopped in the main thread: context managers release locks and remove
temporary files, and the entry point prints one line and exits 128 + the
signal number (130 for SIGINT, 143 for SIGTERM), as a shell reports it.
"""
import contextlib
import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(BaseException):
    """Raised by SIGTERM or SIGINT; a BaseException, so `except Exception` blocks let it pass."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum


def raise_stopped(signum, frame):
    raise Stopped(signum)


@contextlib.contextmanager
def raised_as_stopped():
    """Within the block, SIGTERM and SIGINT raise Stopped (main thread only; elsewhere unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, raise_stopped) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
