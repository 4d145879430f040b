"""Pieces every benchmark shares: photo-like test JPEGs, the median-of-runs timer, Markdown tables,
machine facts, the context the harness hands each benchmark module, and child-process helpers.

A benchmark module defines `run(context) -> list of Table`; `python -m benchmarks` runs each
module in its own child process and writes the tables into benchmarks/RESULTS.md. This module
imports neither TensorFlow nor PyTorch, so the harness and the PyTorch benchmark stay light.
"""
import dataclasses
import datetime
import json
import multiprocessing
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np
from PIL import Image

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(REPO_ROOT, 'benchmarks', 'data')
IMAGE_SIZE = 512
CROP_SIZE = 224
BATCH_SIZE = 64
JPEG_QUALITY = 90
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')


class BenchmarkError(Exception):
    """A benchmark could not run; the harness shows the message in place of its table."""


# ---------------------------------------------------------------- test images

def photo_like_image(rng, size=IMAGE_SIZE):
    """Returns a size x size RGB PIL image with the statistics that make photos slow to decode.

    Flat drawings compress to a few kilobytes and decode unrealistically fast. This one sums
    octaves of smooth random fields with a 1/f amplitude falloff (the spectrum of natural
    images), adds hard-edged shapes and per-pixel sensor noise, so its JPEG carries about as
    many non-zero DCT coefficients as a photograph of the same size.
    """
    field = np.zeros((2, 2), np.float32)
    cells, octave = 2, 1
    while cells < size:
        field = field + rng.standard_normal((cells, cells), dtype=np.float32) * np.float32(
            60.0 / octave)
        cells, octave = min(cells * 2, size), octave + 1
        field = np.asarray(Image.fromarray(field, mode='F').resize((cells, cells), Image.BICUBIC))
    luminance = field
    tint = rng.uniform(0.6, 1.4, size=3).astype(np.float32)
    colour = Image.fromarray(rng.standard_normal((4, 4)).astype(np.float32), mode='F')
    hue_field = np.asarray(colour.resize((size, size), Image.BICUBIC))[..., None] * np.float32(25)
    pixels = 128 + luminance[..., None] * tint + hue_field * (tint - 1) * 4
    for _ in range(rng.integers(3, 8)):
        top, left = rng.integers(0, size, 2)
        height, width = rng.integers(size // 16, size // 3, 2)
        pixels[top:top + height, left:left + width] += rng.uniform(-60, 60, 3).astype(np.float32)
    pixels += rng.standard_normal(pixels.shape, dtype=np.float32) * np.float32(7)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode='RGB')


def write_photo(path, size, seed):
    """Writes one photo-like JPEG; `seed` alone decides its pixels."""
    photo_like_image(np.random.default_rng(seed), size).save(path, quality=JPEG_QUALITY)


def photo_folder(count, classes=4, size=IMAGE_SIZE, seed=0):
    """Returns a folder of `count` photo-like JPEGs in `classes` class subfolders, made once.

    The folder lives under benchmarks/data/ (ignored by git) and is reused by later runs; it
    is built under a temporary name and renamed when complete, and `<folder>.json` beside it
    marks it finished, so an interrupted run never leaves a half-made folder in use.
    """
    name = 'photos-%d-%dpx-%dclasses-seed%d' % (count, size, classes, seed)
    directory = os.path.join(DATA_DIR, name)
    marker = directory + '.json'
    if os.path.exists(marker) and os.path.isdir(directory):
        return directory
    partial = directory + '.partial-%d' % os.getpid()
    shutil.rmtree(partial, ignore_errors=True)
    for label in range(classes):
        os.makedirs(os.path.join(partial, 'class_%d' % label))
    jobs = [(os.path.join(partial, 'class_%d' % (index % classes), 'photo_%05d.jpg' % index),
             size, (seed, index)) for index in range(count)]
    with multiprocessing.Pool(usable_cores()) as pool:
        pool.starmap(write_photo, jobs, chunksize=8)
    shutil.rmtree(directory, ignore_errors=True)
    os.rename(partial, directory)
    with open(marker + '.tmp', 'w') as stream:
        json.dump({'count': count, 'size': size, 'classes': classes, 'seed': seed,
                   'quality': JPEG_QUALITY}, stream)
    os.replace(marker + '.tmp', marker)
    return directory


def list_images(directory):
    """Returns the sorted paths of the JPEG and PNG files under `directory` (any depth)."""
    paths = []
    for root, _, files in os.walk(directory):
        paths.extend(os.path.join(root, name) for name in files
                     if name.lower().endswith(IMAGE_EXTENSIONS))
    return sorted(paths)


def has_class_folders(directory):
    """Whether `directory` holds its images in class subfolders (else it is one flat folder)."""
    return any(os.path.isdir(os.path.join(directory, name)) and
               list_images(os.path.join(directory, name)) for name in os.listdir(directory))


def folder_bytes(paths):
    return sum(os.path.getsize(path) for path in paths)


# ---------------------------------------------------------------- timing

@dataclasses.dataclass
class Measurement:
    """Rates from several timed runs of one thing; the table shows their median."""
    key: str
    label: str
    unit: str
    runs: list
    note: str = ''

    @property
    def median(self):
        return statistics.median(self.runs)


def measure(key, label, run_once, amount, unit='images/s', repeats=3, warmup=1, note=''):
    """Times `run_once()` `repeats` times after `warmup` untimed calls; rate = amount / seconds.

    `run_once` may return the amount it processed, which then replaces `amount`.
    """
    for _ in range(warmup):
        run_once()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = run_once()
        elapsed = time.perf_counter() - start
        runs.append((amount if done is None else done) / max(elapsed, 1e-9))
    return Measurement(key, label, unit, runs, note)


def measure_batches(key, label, next_batch, batch_size, batches, repeats=3, warmup_batches=3,
                    note=''):
    """images/s of a batch iterator: `warmup_batches` untimed calls, then `repeats` runs of
    `batches` calls to `next_batch()` each."""
    for _ in range(warmup_batches):
        next_batch()

    def run_once():
        for _ in range(batches):
            next_batch()

    return measure(key, label, run_once, batch_size * batches, repeats=repeats, warmup=0,
                   note=note)


# ---------------------------------------------------------------- tables

def format_number(value):
    """Three significant figures without scientific notation for everyday magnitudes."""
    if value is None:
        return '-'
    magnitude = abs(value)
    if magnitude >= 100:
        return '%.0f' % value
    if magnitude >= 10:
        return '%.1f' % value
    return '%.2f' % value


def format_ratio(value):
    return '-' if value is None else '%.2fx' % value


def markdown_table(columns, rows):
    """Returns a GitHub Markdown table; cells are str()-ed and pipes escaped."""
    def cell(value):
        return str(value).replace('|', '\\|').replace('\n', ' ')

    lines = ['| ' + ' | '.join(cell(column) for column in columns) + ' |',
             '|' + '|'.join('---' if index == 0 else '---:' for index in range(len(columns))) + '|']
    for row in rows:
        lines.append('| ' + ' | '.join(cell(value) for value in row) + ' |')
    return '\n'.join(lines)


@dataclasses.dataclass
class Table:
    """One results table: its title, cells, notes, and the measurements behind its cells."""
    title: str
    columns: list
    rows: list
    notes: list = dataclasses.field(default_factory=list)
    measurements: list = dataclasses.field(default_factory=list)

    def markdown(self):
        """The table under a `###` title; notes follow as paragraphs (bullet lines stay one list)."""
        parts = ['### %s' % self.title, '']
        if self.rows:
            parts += [markdown_table(self.columns, self.rows), '']
        previous = ''
        for note in filter(None, self.notes):
            if parts[-1] and not (previous.startswith('- ') and note.startswith('- ')):
                parts.append('')
            parts.append(note)
            previous = note
        return '\n'.join(parts).rstrip() + '\n'

    def to_json(self):
        return dict(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, data):
        data = dict(data)
        data['measurements'] = [Measurement(**item) for item in data.get('measurements', [])]
        return cls(**data)


def rate_table(title, measurements, baseline_key=None, notes=(), name_column='what'):
    """Returns a Table of measurements: median, range over the runs, and ratio to the baseline."""
    baseline = next((item for item in measurements if item.key == baseline_key), None)
    unit = measurements[0].unit if measurements else ''
    columns = [name_column, '%s (median)' % unit, 'runs: min-max', 'n']
    if baseline is not None:
        columns.append('vs %s' % baseline.label)
    rows = []
    for item in measurements:
        row = [item.label + (' (%s)' % item.note if item.note else ''), format_number(item.median),
               '%s-%s' % (format_number(min(item.runs)), format_number(max(item.runs))),
               len(item.runs)]
        if baseline is not None:
            row.append('1.00x (baseline)' if item is baseline else format_ratio(
                item.median / baseline.median))
        rows.append(row)
    return Table(title, columns, rows, list(notes), list(measurements))


def skipped_table(title, reason):
    """Returns a Table that says why a benchmark did not run."""
    return Table(title, [], [], ['Skipped: %s' % reason])


# ---------------------------------------------------------------- machine facts

def cpu_model():
    try:
        with open('/proc/cpuinfo') as stream:
            for line in stream:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib():
    try:
        with open('/proc/meminfo') as stream:
            for line in stream:
                if line.startswith('MemTotal:'):
                    return '%.1f GiB' % (int(line.split()[1]) / 2 ** 20)
    except OSError:
        pass
    return 'unknown'


def package_version(name):
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return 'not installed'


def git_commit():
    try:
        output = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    if output.returncode:
        return 'unknown'
    return output.stdout.strip() + (' (with uncommitted changes)' if dirty.stdout.strip() else '')


def usable_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()


def machine_info():
    """Returns [(name, value)] describing where and with what the figures were measured."""
    load = os.getloadavg() if hasattr(os, 'getloadavg') else None
    return [
        ('date', datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')),
        ('machine', '%s, %s' % (cpu_model(), platform.machine())),
        ('cores', '%d usable (%d logical)' % (usable_cores(), os.cpu_count())),
        ('memory', memory_gib()),
        ('system', platform.platform()),
        ('load average at start', ', '.join('%.2f' % value for value in load) if load else '-'),
        ('python', platform.python_version()),
        ('tensorflow', package_version('tensorflow')),
        ('numpy', package_version('numpy')),
        ('pillow', package_version('pillow')),
        ('torch', package_version('torch')),
        ('git commit', git_commit()),
    ]


# ---------------------------------------------------------------- context and child processes

@dataclasses.dataclass
class Context:
    """What the harness hands every benchmark module (also written as JSON for child processes).

    images_dir holds the JPEGs (class subfolders, or the user's --images folder); train_files is
    the TFRecord pattern of the same images converted by convert_dataset.py without resizing;
    work_dir is a scratch folder of the module's own.
    """
    quick: bool
    repeats: int
    images_dir: str
    image_count: int
    train_files: str
    work_dir: str
    python: str = sys.executable
    batch_size: int = BATCH_SIZE
    crop_size: int = CROP_SIZE

    def batches(self, quick, full):
        """Timed batches per run: `quick` in quick mode, else `full`."""
        return quick if self.quick else full

    def save(self, path):
        with open(path, 'w') as stream:
            json.dump(dataclasses.asdict(self), stream, indent=1)

    @classmethod
    def load(cls, path):
        with open(path) as stream:
            return cls(**json.load(stream))


def quiet_environment(**extra):
    """Returns os.environ for a child process with TensorFlow's start-up chatter off."""
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONUNBUFFERED='1')
    environment['PYTHONPATH'] = os.pathsep.join(
        [REPO_ROOT] + [path for path in [environment.get('PYTHONPATH')] if path])
    environment.update({key: str(value) for key, value in extra.items()})
    return environment


def run_command(arguments, timeout, cwd=REPO_ROOT, environment=None):
    """Runs a child process and returns its stdout+stderr; BenchmarkError on failure or timeout."""
    try:
        completed = subprocess.run(arguments, cwd=cwd, env=environment or quiet_environment(),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchmarkError('%s did not finish within %d s' % (
            ' '.join(arguments[:3]), timeout)) from None
    if completed.returncode:
        tail = ' / '.join(line for line in completed.stdout.strip().splitlines()[-3:])
        raise BenchmarkError('%s exited with %d: %s' % (' '.join(arguments[:3]),
                                                         completed.returncode, tail))
    return completed.stdout


def peak_rss_bytes():
    """Returns this process's peak resident set size in bytes (VmHWM, else ru_maxrss)."""
    try:
        with open('/proc/self/status') as stream:
            for line in stream:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == 'darwin' else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def mib(value):
    return '%.0f MiB' % (value / 2 ** 20)
