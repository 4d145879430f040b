"""What an encoded image's header says, read without decoding it: its size, and whether it can be used.

The exported serving signature and --mode predict check every image here first,
so a small file whose header claims a huge image (a decompression bomb) and a
JPEG or PNG cut short are refused by name instead of costing gigabytes of
memory or being classified as the grey pixels the decoder fills in.
"""
import tensorflow as tf

from library.data import examine

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
GIF_MAGIC = b'GIF8'
BMP_MAGIC = b'BM'
HEADER_BYTES = 26  # enough for the PNG IHDR, the GIF screen descriptor and the BMP info header sizes
NOT_AN_IMAGE = 'not a decodable image: its bytes start like no JPEG, PNG, GIF or BMP'
UNREADABLE_JPEG = 'corrupt JPEG header: it states no image size'


def header_bytes(encoded, offset, length):
    """Returns `length` bytes at `offset` of the header, zeros past the end of `encoded`."""
    return tf.strings.substr(tf.strings.join([encoded, b'\0' * HEADER_BYTES]), offset, length)


def integer(encoded, offset, dtype, little_endian):
    """Returns the int64 value of the `dtype` integer at byte `offset` of the header (0 past its end)."""
    raw = header_bytes(encoded, offset, dtype.size)
    return tf.cast(tf.io.decode_raw(raw, dtype, little_endian=little_endian)[0], tf.int64)


def jpeg_size(encoded):
    """Returns [height, width] from a JPEG's frame header; [0, 0] when it has none (logged as a warning)."""
    (size,), _ = examine.guarded(lambda data: (tf.cast(tf.io.extract_jpeg_shape(data)[:2], tf.int64),),
                                 encoded, (tf.zeros([2], tf.int64),), UNREADABLE_JPEG)
    return size


def other_size(encoded):
    """Returns [height, width] from a PNG's IHDR, a GIF's screen descriptor or a BMP's info header;
    [0, 0] for anything else. A BMP stored top-down has a negative height."""
    png = tf.logical_and(examine.starts_with(encoded, PNG_MAGIC),
                         tf.equal(header_bytes(encoded, 12, 4), b'IHDR'))
    png_size = tf.stack([integer(encoded, 20, tf.int32, False), integer(encoded, 16, tf.int32, False)])
    gif_size = tf.stack([integer(encoded, 8, tf.uint16, True), integer(encoded, 6, tf.uint16, True)])
    bmp_size = tf.stack([tf.abs(integer(encoded, 22, tf.int32, True)), integer(encoded, 18, tf.int32, True)])
    unknown = tf.zeros([2], tf.int64)
    return tf.where(png, png_size, tf.where(examine.starts_with(encoded, GIF_MAGIC), gif_size,
                                            tf.where(examine.starts_with(encoded, BMP_MAGIC), bmp_size, unknown)))


def image_size(encoded):
    """Returns [height, width] (int64) as the header of one encoded image states it, without decoding;
    [0, 0] when it states none."""
    return tf.cond(tf.io.is_jpeg(encoded), lambda: jpeg_size(encoded), lambda: other_size(encoded))


def image_problem(encoded, max_pixels):
    """Returns '' for one encoded image that can be decoded whole within `max_pixels`, else what is wrong.

    Checked without decoding: known format (JPEG, PNG, GIF, BMP), a stated size
    of at most `max_pixels`, and for JPEG and PNG the end marker (FF D9, the
    IEND chunk) as the last bytes, so a file cut short is refused.
    """
    size = image_size(encoded)
    pixels = size[0] * size[1]
    known = tf.reduce_any(tf.stack([examine.starts_with(encoded, magic) for magic in examine.IMAGE_MAGICS]))
    jpeg = tf.io.is_jpeg(encoded)
    png = examine.starts_with(encoded, PNG_MAGIC)
    truncated = tf.logical_or(tf.logical_and(jpeg, tf.logical_not(examine.ends_with(encoded, examine.JPEG_END))),
                              tf.logical_and(png, tf.logical_not(examine.ends_with(encoded, examine.PNG_END))))
    size_text = tf.strings.join([tf.strings.as_string(size[1]), tf.strings.as_string(size[0])], 'x')
    checks = [
        (tf.equal(tf.strings.length(encoded), 0), tf.constant('empty image bytes')),
        (tf.logical_not(known), tf.constant(NOT_AN_IMAGE)),
        (tf.logical_and(jpeg, tf.equal(pixels, 0)), tf.constant(UNREADABLE_JPEG)),
        (tf.reduce_any(size <= 0), tf.strings.join(['corrupt image header: it states a size of ', size_text])),
        (pixels > max_pixels, tf.strings.join([
            'the header states ', size_text, ' = ', tf.strings.as_string(pixels),
            ' pixels, over the limit of max_pixels %d; refused without decoding' % max_pixels])),
        (truncated, tf.constant('truncated image: it does not end with the JPEG or PNG end marker')),
    ]
    problem = tf.constant('')
    for failed, reason in reversed(checks):
        problem = tf.where(failed, reason, problem)
    return problem
