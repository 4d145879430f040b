"""--resample, reduced-size JPEG decoding (draft) and what the TensorFlow check still rejects."""
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from library import convert
from library.config import ConfigError
from library.image_files import EncodeOptions, encode_file
from tests.test_convert import convert_quietly, image_bytes, read_records, write_file

# Mean over the channels of a drawn photo-like scene stored at quality 95: the draft + bilinear
# result against a full decode + Lanczos resize measures 33-34 dB (any filter); below 30 dB the
# difference would show.
MIN_PSNR_DB = 30.0


def drawn_photo(width, height, seed=0):
    """A smooth gradient with soft-edged shapes: detail at several scales, like a photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([128 + 100 * np.sin(x / width * 3 + c) * np.cos(y / height * 2 + c)
                     for c in range(3)], axis=-1)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        left, top = rng.integers(0, width), rng.integers(0, height)
        size = rng.integers(width // 40, width // 6)
        draw.ellipse((left, top, left + size, top + size),
                     fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return image


def psnr(first, second):
    error = np.mean((np.asarray(first, np.float64) - np.asarray(second, np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(error, 1e-12))


def decoded(result):
    return Image.open(io.BytesIO(result.data)).convert('RGB')


@pytest.fixture(scope='module')
def large_jpeg():
    return image_bytes(drawn_photo(1600, 1200), 'JPEG', quality=95)


@pytest.mark.parametrize('resample', ['bilinear', 'lanczos', 'bicubic'])
def test_a_jpeg_over_four_times_max_edge_is_decoded_reduced_and_close_to_a_full_resize(
        large_jpeg, resample):
    result = encode_file(large_jpeg, EncodeOptions(max_edge=384, quality=95, resample=resample))
    assert (result.width, result.height, result.passthrough) == (384, 288, False)
    reference = Image.open(io.BytesIO(large_jpeg)).convert('RGB').resize(
        (384, 288), Image.Resampling.LANCZOS)
    assert psnr(decoded(result), reference) > MIN_PSNR_DB


def test_draft_decodes_a_large_jpeg_at_a_reduced_scale(large_jpeg, monkeypatch):
    seen = []
    original = Image.Image.resize

    def recording_resize(image, size, *args, **kwargs):
        seen.append(image.size)
        return original(image, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, 'resize', recording_resize)
    encode_file(large_jpeg, EncodeOptions(max_edge=384))
    assert seen == [(400, 300)]  # 1600x1200 decoded at 1/4 scale, then resized to 384x288


def test_the_filter_changes_the_pixels_and_is_recorded(tmp_path, large_jpeg):
    write_file(tmp_path / 'in' / 'a' / 'photo.jpg', large_jpeg)
    pixels = {}
    for resample in ('bilinear', 'lanczos'):
        out = tmp_path / resample
        convert_quietly(tmp_path / 'in', out, max_edge=384, resample=resample)
        record = read_records(str(out / 'data-*.tfrecord'))['a/photo.jpg']
        assert (record['width'], record['height']) == (384, 288)
        assert json.loads((out / 'data.json').read_text())['options']['resample'] == resample
        pixels[resample] = record['pixels'].astype(np.int32)
    assert np.abs(pixels['bilinear'] - pixels['lanczos']).max() > 0


def test_an_unknown_filter_is_refused_by_name(tmp_path):
    with pytest.raises(ConfigError, match=r"--resample 'area': expected one of nearest, bilinear"):
        convert.encode_options('jpeg', 90, 384, None, None, 'area')


def test_a_sideways_jpeg_is_drafted_and_turned_upright(large_jpeg):
    exif = Image.Exif()
    exif[0x0112] = 6
    upright = drawn_photo(1200, 1600, seed=1)
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    data = image_bytes(stored, 'JPEG', quality=95, exif=exif.tobytes())
    result = encode_file(data, EncodeOptions(max_edge=400))
    assert (result.width, result.height) == (300, 400)
    assert psnr(decoded(result), upright.resize((300, 400), Image.Resampling.LANCZOS)) > MIN_PSNR_DB


def test_an_xmp_orientation_is_still_applied():
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
           b'22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
           b'tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')
    data = image_bytes(Image.new('RGB', (40, 20), 'red'), 'JPEG', xmp=xmp)
    result = encode_file(data, EncodeOptions())
    assert (result.width, result.height, result.passthrough) == (20, 40, False)


@pytest.mark.parametrize('max_edge', [None, 384])
def test_a_truncated_or_corrupt_jpeg_is_skipped_with_or_without_resizing(tmp_path, large_jpeg,
                                                                         max_edge):
    small = image_bytes(drawn_photo(300, 200, seed=2), 'JPEG', quality=90)
    write_file(tmp_path / 'in' / 'a' / 'good.jpg', small)
    write_file(tmp_path / 'in' / 'a' / 'truncated.jpg', small[:len(small) // 2])
    write_file(tmp_path / 'in' / 'a' / 'big_truncated.jpg', large_jpeg[:len(large_jpeg) // 2])
    corrupt = bytearray(small)  # a Huffman table with impossible code counts: only decoding sees it
    table = corrupt.index(b'\xff\xc4')
    corrupt[table + 5:table + 21] = b'\xff' * 16
    write_file(tmp_path / 'in' / 'a' / 'corrupt.jpg', bytes(corrupt))
    summary = convert_quietly(tmp_path / 'in', tmp_path / 'out', max_edge=max_edge)
    assert summary['count'] == 1
    reasons = {skip['file']: skip['reason'] for skip in summary['skipped']}
    assert sorted(reasons) == ['a/big_truncated.jpg', 'a/corrupt.jpg', 'a/truncated.jpg']
    assert all('truncated' in reason for reason in reasons.values())
    assert list(read_records(str(tmp_path / 'out' / 'data-*.tfrecord'))) == ['a/good.jpg']
