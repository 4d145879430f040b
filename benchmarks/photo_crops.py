"""Cuts a benchmark set of varied image files out of a few large photographs.

    python -m benchmarks.photo_crops --photos ~/Pictures --out /tmp/crops --count 4000

Random crops at random scales and aspect ratios, stored as JPEG quality 92 of mostly 512 px
on the longer side (about 1 in 8 larger, 1 in 16 smaller), about 1 in 20 stored sideways with
an EXIF orientation that turns it upright, and about 1 in 40 saved as PNG, spread over
`--classes` class folders. The same photos and seed give the same files.

Without photos of your own, Debian's wallpaper packages hold a few dozen large real photographs
(the conversion figures in benchmarks/README.md used these, cut into /work/photos):

    apt-get download mate-backgrounds plasma-workspace-wallpapers ukui-wallpapers \
        gnome-backgrounds desktop-base
    for deb in *.deb; do dpkg-deb -x $deb wallpapers; done
    # keep the largest JPEG/PNG of each wallpaper folder (at least 1000 px on the shorter side)
"""
import argparse
import functools
import multiprocessing
import os
import random
import sys

from PIL import Image

from benchmarks.common import list_images, usable_cores

LONGER_EDGE = 512
QUALITY = 92
# EXIF orientation -> the transpose that stores an upright image so that orientation turns it back.
SIDEWAYS = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
            8: Image.Transpose.ROTATE_270}


def longer_edge(rng):
    """Mostly 512 px; about 1 in 8 larger (up to 2048 px), 1 in 16 smaller."""
    draw = rng.random()
    if draw < 0.125:
        return rng.randint(640, 2048)
    if draw < 0.1875:
        return rng.randint(256, 480)
    return LONGER_EDGE


def random_crop(photo, rng, edge):
    """Returns a crop of `photo` at a random place, aspect ratio (3:4 to 16:9) and scale (10-100%,
    but with a longer side of at least `edge` pixels where the photo allows)."""
    aspect = rng.uniform(4 / 3, 16 / 9) ** rng.choice((-1, 1))
    full_width = min(photo.width, photo.height * aspect)
    longest = max(full_width, full_width / aspect)
    width = full_width * rng.uniform(min(1.0, max(0.1, edge / longest)), 1.0)
    height = width / aspect
    left = rng.uniform(0, photo.width - width)
    top = rng.uniform(0, photo.height - height)
    return photo.crop((round(left), round(top), round(left + width), round(top + height)))


def cut_crops(photo_path, jobs, out_dir, classes):
    """Cuts the crops `jobs` [(index, seed)] of one photo into `out_dir`; returns how many."""
    photo = Image.open(photo_path).convert('RGB')
    for index, seed in jobs:
        rng = random.Random(seed)
        edge = longer_edge(rng)
        crop = random_crop(photo, rng, edge)
        crop.thumbnail((edge, edge), Image.Resampling.LANCZOS)
        stem = os.path.join(out_dir, 'class_%d' % (index % classes), 'crop_%05d' % index)
        draw = rng.random()
        if draw < 0.025:
            crop.save(stem + '.png')
        elif draw < 0.075:
            orientation = rng.choice(sorted(SIDEWAYS))
            exif = Image.Exif()
            exif[0x0112] = orientation
            crop.transpose(SIDEWAYS[orientation]).save(stem + '.jpg', quality=QUALITY,
                                                       exif=exif.tobytes())
        else:
            crop.save(stem + '.jpg', quality=QUALITY)
    return len(jobs)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.photo_crops',
                                     description=__doc__.split('\n')[0])
    parser.add_argument('--photos', required=True, help='folder of large JPEG/PNG photographs')
    parser.add_argument('--out', required=True, help='new folder that receives the crops')
    parser.add_argument('--count', type=int, default=4000, help='crops to cut')
    parser.add_argument('--classes', type=int, default=4, help='class folders to spread them over')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    photos = list_images(args.photos)
    if not photos:
        parser.error('--photos %s: no .jpg, .jpeg or .png files in it' % args.photos)
    for label in range(args.classes):
        os.makedirs(os.path.join(args.out, 'class_%d' % label), exist_ok=True)
    jobs = [[] for _ in photos]
    for index in range(args.count):
        jobs[index % len(photos)].append((index, '%d-%d' % (args.seed, index)))
    with multiprocessing.Pool(usable_cores()) as pool:
        done = sum(pool.starmap(functools.partial(cut_crops, out_dir=args.out,
                                                  classes=args.classes),
                                zip(photos, jobs)))
    print('cut %d crops of %d photos into %s' % (done, len(photos), args.out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
