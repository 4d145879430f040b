"""The converter: every input layout and format, geometry, labels, bad files and shard sets."""
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from library import convert, dataset_info, decode_check, demo_data
from library import tfrecord_schema as schema
from library.config import ConfigError
from library.image_files import encode_file


def image_bytes(image, image_format, **save_options):
    buffer = io.BytesIO()
    image.save(buffer, image_format, **save_options)
    return buffer.getvalue()


def write_file(path, data):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, 'wb') as stream:
        stream.write(data)
    return data


def noise_image(width, height, mode='RGB', seed=0):
    channels = {'RGB': 3, 'RGBA': 4, 'L': 1}[mode]
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, channels),
                                                  dtype=np.uint8)
    return Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)


def write_jpeg(path, width=32, height=24, mode='RGB', seed=0):
    return write_file(path, image_bytes(noise_image(width, height, mode, seed), 'JPEG', quality=90))


def two_colour_image(width, height, left, right, mode='RGB'):
    """Left half `left`, right half `right`: shows where a rotation moved the pixels."""
    image = Image.new(mode, (width, height), left)
    image.paste(right, (width // 2, 0, width, height))
    return image


def read_records(pattern):
    """Returns {filename: record} for every record in the shards matching `pattern`."""
    records = {}
    for path in sorted(tf.io.gfile.glob(pattern)):
        for serialized in tf.data.TFRecordDataset(path):
            feature = tf.train.Example.FromString(serialized.numpy()).features.feature
            encoded = feature[schema.ENCODED].bytes_list.value[0]
            records[feature[schema.FILENAME].bytes_list.value[0].decode()] = {
                'encoded': encoded,
                'format': feature[schema.FORMAT].bytes_list.value[0].decode(),
                'height': feature[schema.HEIGHT].int64_list.value[0],
                'width': feature[schema.WIDTH].int64_list.value[0],
                'channels': feature[schema.CHANNELS].int64_list.value[0],
                'label': feature[schema.LABEL].int64_list.value[0],
                'text': feature[schema.TEXT].bytes_list.value[0].decode(),
                'shard': os.path.basename(path),
                'pixels': tf.io.decode_image(encoded, expand_animations=False).numpy(),
            }
    return records


def jpeg_with_size_claim(width, height):
    """A small valid JPEG whose frame header claims `width` x `height` (a decompression bomb)."""
    data = bytearray(image_bytes(Image.new('RGB', (16, 16), 'white'), 'JPEG'))
    frame = data.index(b'\xff\xc0')
    data[frame + 5:frame + 7] = height.to_bytes(2, 'big')
    data[frame + 7:frame + 9] = width.to_bytes(2, 'big')
    return bytes(data)


def convert_quietly(source, out, name='data', **options):
    options.setdefault('num_workers', 1)
    return convert.convert_folder(str(source), str(out), name, show_progress=False, **options)


GOOD_FILES = ['photo.jpg', 'gray.jpg', 'big.jpg', 'cmyk.jpg', 'rotated.jpg', 'png_named.jpg',
              'palette.png', 'rgba.png', 'gray16.png', 'anim.gif', 'pic.bmp', 'pic.webp']
BAD_FILES = {'empty.jpg': 'empty file', 'notes.txt': 'not an image',
             'truncated.jpg': 'truncated', 'corrupt.png': 'corrupt',
             'bomb.jpg': 'decompression bomb', 'scan.tif': 'unsupported image format TIFF'}


@pytest.fixture(scope='module')
def zoo(tmp_path_factory):
    """A flat folder with one file of every accepted kind and every kind of bad file."""
    folder = tmp_path_factory.mktemp('zoo')
    sources = {}

    def add(name, data):
        sources[name] = write_file(folder / name, data)

    add('photo.jpg', image_bytes(noise_image(64, 48), 'JPEG', quality=90))
    add('gray.jpg', image_bytes(noise_image(30, 20, 'L'), 'JPEG'))
    add('big.jpg', image_bytes(noise_image(300, 150), 'JPEG'))
    add('cmyk.jpg', image_bytes(Image.new('CMYK', (32, 32), (0, 255, 255, 0)), 'JPEG'))
    exif = Image.Exif()
    exif[0x0112] = 6
    add('rotated.jpg', image_bytes(two_colour_image(40, 20, (255, 0, 0), (0, 0, 255)), 'JPEG',
                                   exif=exif.tobytes()))
    add('png_named.jpg', image_bytes(noise_image(24, 24), 'PNG'))
    add('palette.png', image_bytes(noise_image(20, 20).convert('P'), 'PNG'))
    add('rgba.png', image_bytes(noise_image(20, 20, 'RGBA'), 'PNG'))
    add('gray16.png', image_bytes(Image.fromarray(np.full((10, 12), 0x8000, np.uint16)), 'PNG'))
    frames = [Image.new('RGB', (16, 16), colour).convert('P') for colour in ('red', 'blue')]
    add('anim.gif', image_bytes(frames[0], 'GIF', save_all=True, append_images=frames[1:]))
    add('pic.bmp', image_bytes(noise_image(20, 10, seed=1), 'BMP'))
    add('pic.webp', image_bytes(noise_image(20, 10, seed=2), 'WEBP', lossless=True))
    add('empty.jpg', b'')
    add('notes.txt', b'not an image at all\n')
    add('truncated.jpg', image_bytes(noise_image(64, 64, seed=3), 'JPEG')[:1500])
    add('corrupt.png', b'\x89PNG\r\n\x1a\n' + os.urandom(200))
    add('bomb.jpg', jpeg_with_size_claim(30000, 30000))
    add('scan.tif', image_bytes(noise_image(8, 8), 'TIFF'))
    as_jpeg = convert_quietly(folder, tmp_path_factory.mktemp('zoo_jpeg'), max_edge=100)
    as_png = convert_quietly(folder, tmp_path_factory.mktemp('zoo_png'), image_format='png')
    return {'sources': sources, 'jpeg': as_jpeg, 'png': as_png,
            'jpeg_records': read_records(as_jpeg['info_path'].replace('.json', '-*.tfrecord')),
            'png_records': read_records(as_png['info_path'].replace('.json', '-*.tfrecord'))}


def test_every_good_file_is_written_and_every_bad_one_reported_with_its_reason(zoo):
    for summary, records in ((zoo['jpeg'], zoo['jpeg_records']), (zoo['png'], zoo['png_records'])):
        assert sorted(records) == sorted(GOOD_FILES)
        assert summary['count'] == len(GOOD_FILES)
        reasons = {skip['file']: skip['reason'] for skip in summary['skipped']}
        assert sorted(reasons) == sorted(BAD_FILES)
        for name, expected in BAD_FILES.items():
            assert expected in reasons[name], (name, reasons[name])
        written = json.load(open(summary['info_path']))
        assert written['skipped'] == summary['skipped'] and written['count'] == summary['count']


def test_every_record_decodes_with_tensorflow_to_its_stated_shape(zoo):
    for records in (zoo['jpeg_records'], zoo['png_records']):
        for name, record in records.items():
            assert record['pixels'].shape == (record['height'], record['width'],
                                              record['channels']), name
            assert record['label'] == schema.UNLABELLED and record['text'] == ''


def test_jpegs_needing_no_change_are_stored_byte_for_byte(zoo):
    for records in (zoo['jpeg_records'], zoo['png_records']):
        for name in ('photo.jpg', 'gray.jpg'):
            assert records[name]['encoded'] == zoo['sources'][name]
            assert records[name]['format'] == 'jpeg'
    assert zoo['jpeg_records']['gray.jpg']['channels'] == 1
    assert zoo['jpeg']['passthrough'] == 2


def test_max_edge_downscales_only_larger_images_keeping_the_aspect_ratio(zoo):
    big = zoo['jpeg_records']['big.jpg']
    assert (big['width'], big['height']) == (100, 50)
    assert big['encoded'] != zoo['sources']['big.jpg']
    photo = zoo['jpeg_records']['photo.jpg']
    assert (photo['width'], photo['height']) == (64, 48)
    assert zoo['png_records']['big.jpg']['encoded'] == zoo['sources']['big.jpg']


def test_exif_orientation_is_applied(zoo):
    rotated = zoo['jpeg_records']['rotated.jpg']
    assert (rotated['width'], rotated['height']) == (20, 40)
    top, bottom = rotated['pixels'][5, 10], rotated['pixels'][35, 10]
    assert top[0] > 200 and top[2] < 60, 'the left (red) half turns to the top'
    assert bottom[2] > 200 and bottom[0] < 60


def test_cmyk_and_palette_images_become_rgb_that_tensorflow_reads(zoo):
    cmyk = zoo['jpeg_records']['cmyk.jpg']
    assert cmyk['channels'] == 3 and cmyk['format'] == 'jpeg'
    assert Image.open(io.BytesIO(zoo['sources']['cmyk.jpg'])).mode == 'CMYK'
    assert Image.open(io.BytesIO(cmyk['encoded'])).mode == 'RGB', 'stored as a 3-component JPEG'
    assert cmyk['pixels'][16, 16, 0] > 200 and cmyk['pixels'][16, 16, 1] < 60
    assert zoo['jpeg_records']['palette.png']['channels'] == 3
    assert zoo['png_records']['palette.png']['channels'] == 3


def test_true_format_wins_over_the_file_name(zoo):
    assert zoo['jpeg_records']['png_named.jpg']['format'] == 'jpeg'
    png_named = zoo['png_records']['png_named.jpg']
    assert png_named['format'] == 'png' and png_named['encoded'] == zoo['sources']['png_named.jpg']


def test_alpha_is_dropped_for_jpeg_and_kept_losslessly_for_png(zoo):
    assert zoo['jpeg_records']['rgba.png']['channels'] == 3
    rgba = zoo['png_records']['rgba.png']
    assert rgba['channels'] == 4
    expected = np.asarray(Image.open(io.BytesIO(zoo['sources']['rgba.png'])))
    np.testing.assert_array_equal(rgba['pixels'], expected)


def test_gif_first_frame_bmp_webp_and_16_bit_png(zoo):
    gif = zoo['jpeg_records']['anim.gif']['pixels']
    assert gif[8, 8, 0] > 200 and gif[8, 8, 2] < 60, 'the first (red) frame'
    for name in ('pic.bmp', 'pic.webp'):
        expected = np.asarray(Image.open(io.BytesIO(zoo['sources'][name])).convert('RGB'))
        np.testing.assert_array_equal(zoo['png_records'][name]['pixels'], expected)
        assert zoo['jpeg_records'][name]['format'] == 'jpeg'
    gray16 = zoo['png_records']['gray16.png']
    assert gray16['channels'] == 1 and int(gray16['pixels'].max()) == 0x80


def test_channels_flag_forces_rgb_or_grayscale(tmp_path):
    write_jpeg(tmp_path / 'in' / 'gray.jpg', mode='L')
    write_jpeg(tmp_path / 'in' / 'colour.jpg')
    rgb = read_records(str(tmp_path / 'rgb' / 'data-*.tfrecord')) if convert_quietly(
        tmp_path / 'in', tmp_path / 'rgb', channels=3) else None
    gray = read_records(str(tmp_path / 'gray' / 'data-*.tfrecord')) if convert_quietly(
        tmp_path / 'in', tmp_path / 'gray', channels=1) else None
    assert {record['channels'] for record in rgb.values()} == {3}
    assert {record['pixels'].shape[-1] for record in rgb.values()} == {3}
    assert {record['channels'] for record in gray.values()} == {1}


def test_resize_gives_every_image_the_exact_size(tmp_path):
    write_jpeg(tmp_path / 'in' / 'a.jpg', 50, 20)
    write_jpeg(tmp_path / 'in' / 'b.jpg', 10, 30)
    convert_quietly(tmp_path / 'in', tmp_path / 'out', resize='24x16')
    records = read_records(str(tmp_path / 'out' / 'data-*.tfrecord'))
    assert {(record['width'], record['height']) for record in records.values()} == {(24, 16)}


@pytest.fixture(scope='module')
def classes_dir(tmp_path_factory):
    """Class folders with a nested folder, a PNG and a stray file at the top."""
    folder = tmp_path_factory.mktemp('classes')
    write_jpeg(folder / 'dog' / 'd1.jpg', seed=1)
    write_jpeg(folder / 'dog' / 'puppies' / 'd2.jpg', seed=2)
    write_file(folder / 'cat' / 'c1.png', image_bytes(noise_image(16, 16, seed=3), 'PNG'))
    write_jpeg(folder / 'cat' / 'c2.jpg', seed=4)
    write_jpeg(folder / 'emu' / 'e1.jpg', seed=5)
    write_file(folder / 'README.txt', b'about this data\n')
    write_file(folder / '.DS_Store', b'\x00\x01')
    return folder


def test_class_folders_give_sorted_labels_and_nested_folders_belong_to_their_class(
        classes_dir, tmp_path):
    summary = convert_quietly(classes_dir, tmp_path, 'train')
    assert summary['classes'] == ['cat', 'dog', 'emu']
    assert summary['class_counts'] == [2, 2, 1]
    records = read_records(str(tmp_path / 'train-*.tfrecord'))
    labels = {name: (record['label'], record['text']) for name, record in records.items()}
    assert labels == {'cat/c1.png': (0, 'cat'), 'cat/c2.jpg': (0, 'cat'),
                      'dog/d1.jpg': (1, 'dog'), 'dog/puppies/d2.jpg': (1, 'dog'),
                      'emu/e1.jpg': (2, 'emu')}
    assert summary['skipped'] == [{'file': 'README.txt', 'reason': 'not inside a class folder'}]
    assert dataset_info.load(str(tmp_path / 'train-*.tfrecord'))['classes'] == summary['classes']


def test_labels_file_keeps_train_and_test_label_ids_the_same(classes_dir, tmp_path):
    names_file = tmp_path / 'labels.txt'
    names_file.write_text('emu\ndog\ncat\n')
    train = convert_quietly(classes_dir, tmp_path / 'out', 'train', labels_file=str(names_file))
    assert train['classes'] == ['emu', 'dog', 'cat']
    test_dir = tmp_path / 'test'
    write_jpeg(test_dir / 'cat' / 't1.jpg')
    write_jpeg(test_dir / 'emu' / 't2.jpg')
    test = convert_quietly(test_dir, tmp_path / 'out', 'test', labels_file=train['info_path'])
    assert test['classes'] == train['classes']
    records = read_records(str(tmp_path / 'out' / 'test-*.tfrecord'))
    assert {name: record['label'] for name, record in records.items()} == {
        'cat/t1.jpg': 2, 'emu/t2.jpg': 0}
    names_file.write_text('emu\ndog\n')
    with pytest.raises(ConfigError, match='cat'):
        convert_quietly(classes_dir, tmp_path / 'out', 'train', labels_file=str(names_file))


def test_unlabelled_flag_and_flat_folders_give_label_minus_one(classes_dir, tmp_path):
    summary = convert_quietly(classes_dir, tmp_path, 'all', unlabelled=True)
    records = read_records(str(tmp_path / 'all-*.tfrecord'))
    assert len(records) == 5 and {record['label'] for record in records.values()} == {-1}
    assert summary['classes'] == []
    assert [skip['file'] for skip in summary['skipped']] == ['README.txt']


def test_numpy_arrays_with_labels_are_stored_losslessly_as_png(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(6, 12, 10, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2, 1, 0, 2])
    np.savez(tmp_path / 'data.npz', images=images, labels=labels)
    summary = convert_quietly(tmp_path / 'data.npz', tmp_path / 'out', image_format='png')
    assert summary['classes'] == ['0', '1', '2'] and summary['count'] == 6
    records = read_records(str(tmp_path / 'out' / 'data-*.tfrecord'))
    for index in range(6):
        record = records['data.npz[%d]' % index]
        assert record['format'] == 'png' and record['label'] == labels[index]
        np.testing.assert_array_equal(record['pixels'], images[index])


def test_numpy_grayscale_npy_is_unlabelled_jpeg_and_bad_arrays_are_errors(tmp_path):
    np.save(tmp_path / 'gray.npy', np.full((3, 8, 8), 100, np.uint8))
    convert_quietly(tmp_path / 'gray.npy', tmp_path / 'out')
    records = read_records(str(tmp_path / 'out' / 'data-*.tfrecord'))
    assert len(records) == 3
    assert all(r['format'] == 'jpeg' and r['channels'] == 1 and r['label'] == -1
               for r in records.values())
    np.save(tmp_path / 'float.npy', np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ConfigError, match='uint8'):
        convert_quietly(tmp_path / 'float.npy', tmp_path / 'out')


def test_shards_mix_classes_and_a_rerun_with_fewer_shards_leaves_no_stale_shard(tmp_path):
    for index in range(30):
        write_jpeg(tmp_path / 'in' / ('class_%d' % (index % 3)) / ('%02d.jpg' % index), 8, 8,
                   seed=index)
    out = tmp_path / 'out'
    first = convert_quietly(tmp_path / 'in', out, 'train', num_shards=3)
    assert first['shards'] == ['train-%05d-of-00003.tfrecord' % index for index in range(3)]
    records = read_records(str(out / 'train-*.tfrecord'))
    for shard in first['shards']:
        labels = [record['label'] for record in records.values() if record['shard'] == shard]
        assert len(labels) == 10 and len(set(labels)) > 1
    second = convert_quietly(tmp_path / 'in', out, 'train', num_shards=2)
    assert sorted(os.listdir(out)) == ['train-00000-of-00002.tfrecord',
                                       'train-00001-of-00002.tfrecord', 'train.json']
    assert second['shards'] == sorted(os.listdir(out))[:2]
    assert len(read_records(str(out / 'train-*.tfrecord'))) == 30


def test_converting_into_the_image_folder_twice_ignores_its_own_output(classes_dir, tmp_path):
    import shutil
    folder = tmp_path / 'train'
    shutil.copytree(classes_dir, folder)
    first = convert_quietly(folder, folder, 'train')
    second = convert_quietly(folder, folder, 'train')
    assert second['count'] == first['count'] == 5
    assert second['skipped'] == first['skipped']


def test_worker_processes_write_the_same_records_as_one_process(classes_dir, tmp_path):
    convert_quietly(classes_dir, tmp_path / 'one', num_workers=1, num_shards=2)
    convert_quietly(classes_dir, tmp_path / 'two', num_workers=2, num_shards=2)
    for shard in ('data-00000-of-00002.tfrecord', 'data-00001-of-00002.tfrecord'):
        assert (tmp_path / 'one' / shard).read_bytes() == (tmp_path / 'two' / shard).read_bytes()


def test_strict_turns_a_skip_into_an_error_and_writes_nothing(classes_dir, tmp_path):
    write_jpeg(tmp_path / 'in' / 'good.jpg')
    write_file(tmp_path / 'in' / 'bad.jpg', b'garbage')
    with pytest.raises(ConfigError, match='bad.jpg'):
        convert_quietly(tmp_path / 'in', tmp_path / 'out', strict=True)
    assert os.listdir(tmp_path / 'out') == []
    with pytest.raises(ConfigError, match='README.txt'):
        convert_quietly(classes_dir, tmp_path / 'out2', strict=True)


def test_no_convertible_image_is_an_error(tmp_path):
    write_file(tmp_path / 'in' / 'a.jpg', b'')
    with pytest.raises(ConfigError, match='no image could be converted'):
        convert_quietly(tmp_path / 'in', tmp_path / 'out')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ConfigError, match='no input files'):
        convert_quietly(tmp_path / 'empty', tmp_path / 'out')


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_otherwise():
    plain = io.StringIO()
    progress = convert.Progress(40, stream=plain)
    for _ in range(40):
        progress.update()
    progress.close()
    lines = plain.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1].startswith('converted 40/40 images (100%)')

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    progress = convert.Progress(40, stream=terminal)
    progress.update(40)
    progress.close()
    assert '40/40' in terminal.getvalue() and 'img/s' in terminal.getvalue()


def test_dataset_info_load_finds_the_json_next_to_the_shards(shapes_tfrecords, tmp_path):
    train = dataset_info.load(shapes_tfrecords['train_files'])
    test = dataset_info.load(shapes_tfrecords['eval_files'])
    assert train['classes'] == test['classes'] == list(demo_data.CLASSES)
    assert (train['count'], test['count']) == (60, 24)
    assert train['class_counts'] == [20, 20, 20]
    both = dataset_info.load(shapes_tfrecords['train_files'] + ',' + shapes_tfrecords['eval_files'])
    assert both['count'] == 84 and both['class_counts'] == [28, 28, 28]
    assert dataset_info.load(str(tmp_path / 'nothing-*.tfrecord')) is None
    assert dataset_info.load(str(tmp_path)) is None


def test_dataset_info_write_is_atomic(tmp_path):
    path = str(tmp_path / 'data.json')
    dataset_info.write(path, {'count': 1})
    dataset_info.write(path, {'count': 2})
    assert os.listdir(tmp_path) == ['data.json']
    assert dataset_info.read(path) == {'count': 2}


def test_shapes_records_read_back_as_the_demo_images(shapes_tfrecords):
    records = read_records(shapes_tfrecords['train_files'])
    assert len(records) == 60
    for name, record in records.items():
        assert record['text'] == name.split('/')[0]
        assert demo_data.CLASSES[record['label']] == record['text']
        assert 40 <= max(record['width'], record['height']) <= 80


def test_demo_data_is_deterministic_and_has_the_requested_counts(tmp_path):
    first = demo_data.generate(str(tmp_path / 'a'), 2, 1, seed=3, min_edge=20, max_edge=30)
    demo_data.generate(str(tmp_path / 'b'), 2, 1, seed=3, min_edge=20, max_edge=30)
    for split, count in (('train', 2), ('test', 1)):
        for shape in demo_data.CLASSES:
            names = sorted(os.listdir(os.path.join(first[split], shape)))
            assert len(names) == count
            for name in names:
                data = (tmp_path / 'a' / split / shape / name).read_bytes()
                assert data == (tmp_path / 'b' / split / shape / name).read_bytes()
                assert 20 <= max(Image.open(io.BytesIO(data)).size) <= 30


def test_input_and_output_may_live_on_any_tensorflow_file_system(tmp_path):
    write_jpeg(tmp_path / 'in' / 'cat' / 'a.jpg')
    tf.io.gfile.makedirs('ram://convert_test/in/dog')
    tf.io.gfile.copy(str(tmp_path / 'in' / 'cat' / 'a.jpg'), 'ram://convert_test/in/dog/b.jpg')
    local_to_ram = convert_quietly(tmp_path / 'in', 'ram://convert_test/out', 'local')
    ram_to_ram = convert_quietly('ram://convert_test/in', 'ram://convert_test/out', 'ram')
    assert (local_to_ram['count'], ram_to_ram['count']) == (1, 1)
    assert dataset_info.load('ram://convert_test/out/ram-*.tfrecord')['classes'] == ['dog']
    assert list(read_records('ram://convert_test/out/local-*.tfrecord')) == ['cat/a.jpg']


def test_tensorflow_check_of_a_chunk_finds_the_one_record_its_decoder_rejects():
    options = convert.encode_options('jpeg', 95, None, None, None)
    good = image_bytes(noise_image(40, 24, seed=5), 'JPEG', quality=90)
    cut = image_bytes(noise_image(64, 64, seed=6), 'JPEG', quality=90)[:1500]
    png = image_bytes(noise_image(8, 8, 'L', seed=7), 'PNG')
    results = [encode_file(data, options) for data in (good, cut, png)]
    assert [result.passthrough for result in results] == [True, True, False]

    checked = decode_check.checked_results(results, options)
    assert checked[0] == results[0] and checked[2] == results[2]
    assert checked[1].skip_reason and 'truncated' in checked[1].skip_reason
    assert decode_check.tensorflow_decode_errors([results[0], results[2]]) == [None, None]
    wrong_size = results[0]._replace(width=41)
    assert 'instead of [3, 6, 3]' in decode_check.tensorflow_decode_errors([wrong_size])[0]
