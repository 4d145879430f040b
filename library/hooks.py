"""Training and evaluation hooks: plain progress lines (step, loss, examples/s, ETA; evaluation batches, ETA)."""
import datetime
import sys
import time

import tensorflow as tf


def format_duration(seconds):
    """Returns `seconds` as H:MM:SS."""
    return str(datetime.timedelta(seconds=int(round(seconds))))


class ProgressHook(tf.estimator.SessionRunHook):
    """Prints `step N/TOTAL  loss L  X examples/s  ETA H:MM:SS` every `every_n_steps` steps.

    Lines are plain text (no terminal control codes), so logs and CI output stay readable.
    `total_steps` may be None when the run length is unknown; the ETA is then left out.
    `ProgressHook.reached` is the global step the latest training step of this process
    reached (for the line printed when a signal stops the run).
    """
    reached = None

    def __init__(self, loss, batch_size, total_steps, every_n_steps, stream=None):
        self.loss = loss
        self.batch_size = batch_size
        self.total_steps = total_steps
        self.every_n_steps = max(1, int(every_n_steps or 1))
        self.stream = stream or sys.stdout
        self.global_step = None
        self.last_step = None
        self.last_time = None
        self.last_loss = None

    def begin(self):
        self.global_step = tf.compat.v1.train.get_global_step()
        if self.global_step is None:
            raise RuntimeError('ProgressHook needs a global step in the graph')

    def after_create_session(self, session, coord):
        self.last_step = int(session.run(self.global_step))
        self.last_time = time.time()

    def before_run(self, run_context):
        return tf.estimator.SessionRunArgs({'loss': self.loss, 'step': self.global_step})

    def after_run(self, run_context, run_values):
        step = int(run_values.results['step']) + 1
        ProgressHook.reached = step
        self.last_loss = float(run_values.results['loss'])
        if step % self.every_n_steps == 0:
            self.report(step)

    def end(self, session):
        step = int(session.run(self.global_step))
        if step != self.last_step and self.last_loss is not None:
            self.report(step)

    def report(self, step):
        now = time.time()
        elapsed = max(now - self.last_time, 1e-9)
        steps_per_second = (step - self.last_step) / elapsed
        parts = ['step %d' % step if not self.total_steps else 'step %d/%d' % (
            step, self.total_steps)]
        parts.append('loss %.4f' % self.last_loss)
        parts.append('%.1f examples/s' % (steps_per_second * self.batch_size))
        if self.total_steps and steps_per_second > 0:
            parts.append('ETA %s' % format_duration(
                max(self.total_steps - step, 0) / steps_per_second))
        self.stream.write('  '.join(parts) + '\n')
        self.stream.flush()
        self.last_step = step
        self.last_time = now


class EvaluationProgressHook(tf.estimator.SessionRunHook):
    """Prints `evaluation: batch N/TOTAL  ETA H:MM:SS` every `every_secs` once an evaluation has taken `delay_secs`.

    Short evaluations print nothing. `total_batches` may be None when the evaluation set's size
    is unknown; the total and the ETA are then left out.
    """

    def __init__(self, total_batches, delay_secs=5.0, every_secs=5.0, stream=None, clock=time.time):
        self.total_batches = total_batches
        self.delay_secs = delay_secs
        self.every_secs = every_secs
        self.stream = stream or sys.stdout
        self.clock = clock
        self.start = None
        self.next_report = None
        self.batches = 0

    def after_create_session(self, session, coord):
        self.start = self.clock()
        self.next_report = self.start + self.delay_secs
        self.batches = 0

    def after_run(self, run_context, run_values):
        self.batches += 1
        now = self.clock()
        if now >= self.next_report:
            self.report(now)
            self.next_report = now + self.every_secs

    def report(self, now):
        if not self.total_batches:
            line = 'evaluation: batch %d' % self.batches
        else:
            rate = self.batches / max(now - self.start, 1e-9)
            line = 'evaluation: batch %d/%d  ETA %s' % (
                self.batches, self.total_batches,
                format_duration(max(self.total_batches - self.batches, 0) / rate))
        self.stream.write(line + '\n')
        self.stream.flush()
