"""`profile_steps: [start, end]`: a TensorFlow profiler trace of those training steps.

The trace lands in `<model_dir>/plugins/profile/`, where TensorBoard's Profile
tab finds it. With `profile_steps: []` no hook is made, so it costs nothing.
"""
import tensorflow as tf

from library.config import ConfigError


def profiler_hooks(config):
    """Returns [ProfileStepsHook] for config['profile_steps'], or [] when it is empty."""
    steps = config['profile_steps']
    if not steps:
        return []
    if (len(steps) != 2 or not all(isinstance(step, int) for step in steps)
            or not 0 <= steps[0] < steps[1]):
        raise ConfigError('profile_steps must be [start, end] with 0 <= start < end, got %r' % (
            steps,))
    return [ProfileStepsHook(config['model_dir'], *steps)]


class ProfileStepsHook(tf.estimator.SessionRunHook):
    """Starts the profiler before step `start` and stops it after step `end`."""

    def __init__(self, logdir, start, end):
        self.logdir = logdir
        self.start_step = start
        self.end_step = end
        self.active = False

    def begin(self):
        self.global_step = tf.compat.v1.train.get_or_create_global_step()

    def after_create_session(self, session, coord):
        self.step = session.run(self.global_step)

    def before_run(self, run_context):
        if not self.active and self.start_step <= self.step < self.end_step:
            tf.profiler.experimental.start(self.logdir)
            self.active = True
        return tf.estimator.SessionRunArgs(self.global_step)

    def after_run(self, run_context, run_values):
        self.step = run_values.results
        if self.active and self.step >= self.end_step:
            self.stop()

    def end(self, session):
        self.stop()

    def stop(self):
        if self.active:
            tf.profiler.experimental.stop()
            self.active = False
