"""How much RAM the machine has free, and settings that obviously cannot fit in it."""
import os

from library.config import ConfigError

BATCH_MEMORY_FRACTION = 0.5  # share of the available RAM one batch of input pixels may take
FLOAT32_BYTES = 4


def available_memory_bytes():
    """Returns the RAM available to new allocations (MemAvailable on Linux)."""
    try:
        with open('/proc/meminfo') as meminfo:
            for line in meminfo:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')


def check_batch_fits(batch_size, image_size, channels, key='train_batch_size'):
    """Raises ConfigError when one batch of float32 input pixels would take more than half the free RAM.

    The model's activations need several times more, so this only refuses
    the obvious misfits, before anything runs.
    """
    needed = batch_size * image_size * image_size * channels * FLOAT32_BYTES
    available = available_memory_bytes()
    if needed > BATCH_MEMORY_FRACTION * available:
        raise ConfigError('%s %d with image_size %d: one input batch takes about %.1f GiB of float32 pixels '
                          'but only %.1f GiB of RAM is available; lower %s or image_size' % (
                              key, batch_size, image_size, needed / 2 ** 30, available / 2 ** 30, key))
