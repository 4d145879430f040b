"""Reads one image (file bytes or a NumPy array) and returns the bytes to store.

This is the per-image work of convert_dataset.py and runs in worker
processes, so it uses only Pillow and NumPy and must not import TensorFlow
(that would cost every worker seconds of start-up).

Rules: the format is recognised from the content, never the file name. A
JPEG that needs no change is stored byte-for-byte; so is a PNG when the output
format is PNG. Everything else is decoded, EXIF-rotated, converted to L, LA,
RGB or RGBA, resized if asked and encoded as JPEG or PNG.
"""
import collections
import dataclasses
import io
import re
import signal
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from library.config import ConfigError

ACCEPTED_FORMATS = ('JPEG', 'PNG', 'GIF', 'BMP', 'WEBP')
OUTPUT_FORMATS = ('jpeg', 'png')
RESAMPLING_FILTERS = {'nearest': Image.Resampling.NEAREST, 'bilinear': Image.Resampling.BILINEAR,
                      'bicubic': Image.Resampling.BICUBIC, 'lanczos': Image.Resampling.LANCZOS}
REDUCING_GAP = 3.0
EXIF_ORIENTATION = 0x0112
ORIENTATION_SOURCES = ('exif', 'xmp', 'XML:com.adobe.xmp', 'Raw profile type exif')
CHANNELS_OF_MODE = {'L': 1, 'LA': 2, 'RGB': 3, 'RGBA': 4}
GRAY_MODES = ('1', 'L', 'I', 'F', 'I;16', 'I;16L', 'I;16B', 'I;16N')
ALPHA_MODES = ('RGBA', 'RGBa', 'PA', 'LA', 'La')
MAX_PIXELS = Image.MAX_IMAGE_PIXELS  # larger images are refused (Pillow's DecompressionBombWarning, made an error)
SIGNATURES = ((b'\xff\xd8\xff', 'JPEG'), (b'\x89PNG\r\n\x1a\n', 'PNG'), (b'GIF8', 'GIF'),
              (b'BM', 'BMP'))

Encoded = collections.namedtuple(
    'Encoded', 'data image_format height width channels passthrough skip_reason')


def skipped(reason):
    """Returns the result for an input that cannot be stored, with its reason."""
    return Encoded(None, None, 0, 0, 0, False, reason)


@dataclasses.dataclass(frozen=True)
class EncodeOptions:
    """How images are stored: output format, size limits, channels and resampling filter."""
    image_format: str = 'jpeg'
    quality: int = 95
    max_edge: int = None
    resize: tuple = None
    channels: int = None
    resample: str = 'bilinear'

    def output_size(self, width, height):
        """Returns the (width, height) an image of this size is stored at."""
        if self.resize:
            return self.resize
        if self.max_edge and max(width, height) > self.max_edge:
            scale = self.max_edge / max(width, height)
            return max(1, round(width * scale)), max(1, round(height * scale))
        return width, height


def parse_resize(text):
    """Returns (width, height) from 'WxH', or raises ConfigError."""
    match = re.fullmatch(r'\s*(\d+)\s*[xX]\s*(\d+)\s*', text)
    if not match or min(int(match.group(1)), int(match.group(2))) < 1:
        raise ConfigError('--resize %r: expected WIDTHxHEIGHT in pixels, such as 224x224' % text)
    return int(match.group(1)), int(match.group(2))


def encode_options(image_format, quality, max_edge, resize, channels, resample='bilinear'):
    """Returns checked EncodeOptions, or raises ConfigError naming the bad option."""
    if resample not in RESAMPLING_FILTERS:
        raise ConfigError('--resample %r: expected one of %s' % (
            resample, ', '.join(RESAMPLING_FILTERS)))
    if image_format not in OUTPUT_FORMATS:
        raise ConfigError('--format %r: expected one of %s' % (
            image_format, ', '.join(OUTPUT_FORMATS)))
    if not 1 <= quality <= 100:
        raise ConfigError('--quality %d: expected 1 to 100' % quality)
    if max_edge is not None and max_edge < 1:
        raise ConfigError('--max_edge %d: expected a positive number of pixels' % max_edge)
    if max_edge and resize:
        raise ConfigError('--max_edge and --resize both given; use one of them')
    if channels not in (None, 1, 3):
        raise ConfigError("--channels %r: expected 1 or 3 (or none to keep each image's own)"
                          % channels)
    if isinstance(resize, str):
        resize = parse_resize(resize)
    return EncodeOptions(image_format=image_format, quality=quality, max_edge=max_edge,
                         resize=tuple(resize) if resize else None, channels=channels,
                         resample=resample)


def natural_mode(image):
    """Returns L, LA, RGB or RGBA: the mode that holds `image` without loss of channels."""
    if image.mode in GRAY_MODES:
        return 'L'
    if image.mode in ('LA', 'La'):
        return 'LA'
    if image.mode == 'P':
        return 'RGBA' if 'transparency' in image.info else 'RGB'
    if image.mode in ALPHA_MODES:
        return 'RGBA'
    return 'RGB'


def target_mode(image, options):
    """Returns the mode to store `image` in, given --channels and the output format."""
    mode = natural_mode(image)
    if options.channels == 1:
        mode = 'L'
    elif options.channels == 3:
        mode = 'RGB'
    if options.image_format == 'jpeg':
        mode = {'LA': 'L', 'RGBA': 'RGB'}.get(mode, mode)
    return mode


def to_mode(image, mode):
    """Converts `image` to `mode`; 16-bit and float grayscale are scaled to 8 bits."""
    if image.mode in ('I', 'I;16', 'I;16L', 'I;16B', 'I;16N'):
        pixels = np.asarray(image).astype(np.int64)
        image = Image.fromarray((np.clip(pixels, 0, 65535) >> 8).astype(np.uint8))
    elif image.mode == 'F':
        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8))
    return image if image.mode == mode else image.convert(mode)


def encode(image, image_format, quality):
    """Returns `image` encoded as JPEG or PNG bytes."""
    buffer = io.BytesIO()
    if image_format == 'jpeg':
        image.save(buffer, 'JPEG', quality=quality)
    else:
        image.save(buffer, 'PNG')
    return buffer.getvalue()


def store_as(image, mode, size, options):
    """Converts, resizes and encodes a decoded image; returns an Encoded result."""
    image = to_mode(image, mode)
    if image.size != tuple(size):
        image = image.resize(size, RESAMPLING_FILTERS[options.resample], reducing_gap=REDUCING_GAP)
    data = encode(image, options.image_format, options.quality)
    return Encoded(data, options.image_format, image.height, image.width,
                   CHANNELS_OF_MODE[mode], False, None)


def passthrough_format(image, mode, size, orientation, options):
    """Returns 'jpeg' or 'png' when the source bytes can be stored unchanged, else None."""
    if orientation != 1 or tuple(size) != image.size or mode != image.mode:
        return None
    if image.format == 'JPEG':
        return 'jpeg'
    if image.format == 'PNG' and options.image_format == 'png':
        return 'png'
    return None


def claimed_format(data):
    """Returns the accepted format whose signature `data` starts with, or None."""
    if data.startswith(b'RIFF') and data[8:12] == b'WEBP':
        return 'WEBP'
    for signature, name in SIGNATURES:
        if data.startswith(signature):
            return name
    return None


def open_image(data):
    """Opens encoded bytes with Pillow; returns (image, None) or (None, reason)."""
    if not data:
        return None, 'empty file'
    try:
        image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        return None, 'decompression bomb refused: %s' % error
    except UnidentifiedImageError:
        claimed = claimed_format(data)
        if claimed:
            return None, 'corrupt %s: it starts like one but cannot be read' % claimed
        return None, 'not an image (content is not %s)' % ', '.join(ACCEPTED_FORMATS)
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        return None, 'corrupt image header: %s' % error
    if image.format not in ACCEPTED_FORMATS:
        return None, 'unsupported image format %s (accepted: %s)' % (
            image.format, ', '.join(ACCEPTED_FORMATS))
    return image, None


def exif_orientation(image):
    """Returns the EXIF (or XMP) orientation of `image`; 1 (upright) without parsing when it has none."""
    if not any(key in image.info for key in ORIENTATION_SOURCES):
        return 1
    return image.getexif().get(EXIF_ORIENTATION, 1)


def reduce_while_decoding(image, size):
    """Lets libjpeg decode a JPEG at 1/2, 1/4 or 1/8 scale, the largest still at least `size`.

    Only when the stored size is at least twice the target: the DCT scaling
    skips most of the decoding work, and the resize that follows from at most
    twice the target size keeps the result close to a full decode and resize.
    """
    image.draft(image.mode, size)


def encode_file(data, options, force_reencode=False):
    """Returns the Encoded result for the bytes of one image file.

    `force_reencode` stores a decoded copy even when passthrough would apply
    (used when TensorFlow cannot decode the original bytes).
    """
    with warnings.catch_warnings():
        warnings.simplefilter('error', Image.DecompressionBombWarning)
        image, reason = open_image(data)
        if reason:
            return skipped(reason)
        try:
            orientation = exif_orientation(image)
            stored_width, stored_height = image.size
            upright = (stored_height, stored_width) if orientation in (5, 6, 7, 8) else image.size
            size = options.output_size(*upright)
            mode = target_mode(image, options)
            same_format = passthrough_format(image, mode, size, orientation, options)
            if same_format and not force_reencode:
                return Encoded(data, same_format, stored_height, stored_width,
                               CHANNELS_OF_MODE[mode], True, None)
            if image.format == 'JPEG' and size != upright:
                reduce_while_decoding(image, (size[1], size[0]) if orientation in (5, 6, 7, 8) else size)
            image.load()
            if orientation != 1:
                image = ImageOps.exif_transpose(image)
            return store_as(image, mode, size, options)
        except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as error:
            return skipped('corrupt or truncated image: %s' % error)


def encode_array(pixels, options):
    """Returns the Encoded result for one uint8 array of shape (H, W) or (H, W, 1|3|4)."""
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    image = Image.fromarray(np.ascontiguousarray(pixels))
    return store_as(image, target_mode(image, options),
                    options.output_size(image.width, image.height), options)


def read_local(path):
    """Returns the bytes of a local file, or raises OSError."""
    with open(path, 'rb') as stream:
        return stream.read()


@dataclasses.dataclass(frozen=True)
class Unreadable:
    """A work item whose file could not be read, with the reason."""
    reason: str


def encode_payload(payload, options):
    """Encodes one work item: a local path (str), file bytes, a NumPy array or Unreadable."""
    if isinstance(payload, Unreadable):
        return skipped(payload.reason)
    if isinstance(payload, np.ndarray):
        return encode_array(payload, options)
    if isinstance(payload, str):
        try:
            payload = read_local(payload)
        except OSError as error:
            return skipped('cannot read file: %s' % (error.strerror or error))
    return encode_file(payload, options)


def encode_chunk(options, payloads):
    """Encodes a list of work items; the function worker processes run."""
    return [encode_payload(payload, options) for payload in payloads]


def ignore_interrupts():
    """Worker start-up: leave Ctrl-C to the parent, which stops the pool and cleans up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
