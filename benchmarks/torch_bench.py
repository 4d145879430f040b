"""The PyTorch way of feeding images: a DataLoader with 2 workers reading the JPEGs with Pillow.

Each item is opened with Pillow, cropped with the torchvision RandomResizedCrop rule (area
0.08-1, aspect 3/4-4/3, 10 tries, else a central crop) and resized to 224x224 in one bilinear
`resize(box=...)`, flipped half the time and turned into a float32 CHW tensor of pixel values
in [0, 255], the same output as this scaffold's training input_fn (both leave the mapping to
[-1, 1] to the model). torch is optional: without it the table says
so and nothing else changes.
"""
import math
import random

import numpy as np
from PIL import Image

from benchmarks import common

TITLE = 'PyTorch: DataLoader, 2 workers, Pillow decode + random resized crop + flip'
KEY = 'torch.dataloader'
WORKERS = 2
AREA_RANGE = (0.08, 1.0)
ASPECT_RANGE = (3 / 4, 4 / 3)
ATTEMPTS = 10
# Reshuffled passes over the files in one DataLoader epoch, so the timed batches stream
# like the repeating tf.data pipelines instead of draining the workers at every pass.
PASSES_PER_EPOCH = 100


def random_resized_crop_box(width, height, rng):
    """Returns (left, top, right, bottom) of a random crop by torchvision's RandomResizedCrop rule."""
    area = width * height
    log_low, log_high = math.log(ASPECT_RANGE[0]), math.log(ASPECT_RANGE[1])
    for _ in range(ATTEMPTS):
        target_area = area * rng.uniform(*AREA_RANGE)
        aspect = math.exp(rng.uniform(log_low, log_high))
        crop_width = int(round(math.sqrt(target_area * aspect)))
        crop_height = int(round(math.sqrt(target_area / aspect)))
        if 0 < crop_width <= width and 0 < crop_height <= height:
            left = rng.randint(0, width - crop_width)
            top = rng.randint(0, height - crop_height)
            return left, top, left + crop_width, top + crop_height
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def load_training_crop(path, size, rng):
    """Returns the augmented size x size RGB crop of the image at `path` as a uint8 array."""
    with Image.open(path) as image:
        image = image.convert('RGB')
        crop = image.resize((size, size), Image.BILINEAR,
                            box=random_resized_crop_box(image.width, image.height, rng))
    if rng.random() < 0.5:
        crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
    return np.array(crop)


def make_loader(torch, paths, context):
    """Returns the DataLoader a PyTorch user would write for these files (shuffled, 2 workers)."""

    class PhotoDataset(torch.utils.data.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, index):
            pixels = load_training_crop(paths[index], context.crop_size, random)
            image = torch.from_numpy(pixels).permute(2, 0, 1).float()
            return image, 0

    dataset = PhotoDataset()
    passes = torch.utils.data.RandomSampler(dataset, num_samples=PASSES_PER_EPOCH * len(paths))
    return torch.utils.data.DataLoader(dataset, batch_size=context.batch_size, sampler=passes,
                                       num_workers=WORKERS, drop_last=True,
                                       persistent_workers=True)


def endless(loader):
    """Yields the loader's batches epoch after epoch."""
    while True:
        yield from loader


def run(context):
    try:
        import torch
    except ImportError:
        return [common.skipped_table(TITLE, 'torch is not installed (`pip install torch '
                                            '"setuptools<81"` adds a CPU build and keeps the '
                                            'setuptools that tensorflow_hub needs; it is optional).')]
    paths = common.list_images(context.images_dir)
    if len(paths) < context.batch_size:
        return [common.skipped_table(TITLE, 'fewer images (%d) than one batch (%d).' % (
            len(paths), context.batch_size))]
    batches = endless(make_loader(torch, paths, context))
    measurement = common.measure_batches(
        KEY, 'PyTorch DataLoader + Pillow', lambda: next(batches), context.batch_size,
        batches=context.batches(6, 20), repeats=context.repeats)
    return [common.rate_table(TITLE, [measurement], notes=[
        'torch %s, %d worker processes, default prefetch; no torchvision needed (its crop rule '
        'is written out in benchmarks/torch_bench.py).' % (torch.__version__, WORKERS)])]
