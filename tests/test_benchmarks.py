"""The benchmark harness's own pieces on tiny data (no timing assertions: speed lives in benchmarks/)."""
import io
import json
import os
import random

import numpy as np
import pytest
from PIL import Image

from benchmarks import __main__ as harness
from benchmarks import common, input_bench, torch_bench, train_bench


def test_photo_like_image_compresses_like_a_photo_and_decodes_at_the_requested_size():
    image = common.photo_like_image(np.random.default_rng(0), size=128)
    encoded = io.BytesIO()
    image.save(encoded, format='JPEG', quality=common.JPEG_QUALITY)
    decoded = Image.open(io.BytesIO(encoded.getvalue()))
    assert decoded.format == 'JPEG' and decoded.mode == 'RGB' and decoded.size == (128, 128)
    bits_per_pixel = 8 * len(encoded.getvalue()) / (128 * 128)
    assert bits_per_pixel > 1.5, 'photos at quality 90 take 2-4 bits per pixel; flat drawings < 0.5'


def test_photo_folder_makes_class_folders_once_and_reuses_them(tmp_path, monkeypatch):
    monkeypatch.setattr(common, 'DATA_DIR', str(tmp_path))
    directory = common.photo_folder(6, classes=2, size=32, seed=3)
    paths = common.list_images(directory)
    assert len(paths) == 6
    assert sorted(os.listdir(directory)) == ['class_0', 'class_1']
    assert common.has_class_folders(directory)
    assert all(Image.open(path).size == (32, 32) for path in paths)
    first_bytes = [open(path, 'rb').read() for path in paths]
    os.remove(paths[0])
    assert common.photo_folder(6, classes=2, size=32, seed=3) == directory
    assert len(common.list_images(directory)) == 5, 'a finished folder is reused, not rebuilt'
    other_seed = common.list_images(common.photo_folder(6, classes=2, size=32, seed=4))
    assert open(other_seed[0], 'rb').read() != first_bytes[0]


def test_flat_folder_has_no_class_folders(tmp_path):
    Image.new('RGB', (8, 8)).save(tmp_path / 'a.jpg')
    (tmp_path / 'empty').mkdir()
    assert not common.has_class_folders(str(tmp_path))
    assert common.list_images(str(tmp_path)) == [str(tmp_path / 'a.jpg')]


def test_measure_reports_one_rate_per_run_and_their_median():
    calls = []
    measurement = common.measure('k', 'thing', lambda: calls.append(1), amount=10, repeats=4,
                                 warmup=2)
    assert len(calls) == 6
    assert len(measurement.runs) == 4 and all(rate > 0 for rate in measurement.runs)
    assert min(measurement.runs) <= measurement.median <= max(measurement.runs)
    counted = common.measure('k', 'thing', lambda: 0, amount=10, repeats=2, warmup=0)
    assert counted.runs == [0.0, 0.0], 'a run that returns its amount overrides `amount`'


def test_measure_batches_draws_warmup_and_timed_batches():
    drawn = []
    measurement = common.measure_batches('k', 'batches', lambda: drawn.append(1), batch_size=8,
                                         batches=3, repeats=2, warmup_batches=1)
    assert len(drawn) == 1 + 3 * 2
    assert measurement.unit == 'images/s' and len(measurement.runs) == 2


def test_markdown_table_aligns_numbers_and_escapes_pipes():
    text = common.markdown_table(['name', 'rate'], [['a|b', 12.5], ['c', 3]])
    assert text.splitlines() == ['| name | rate |', '|---|---:|', '| a\\|b | 12.5 |', '| c | 3 |']


def test_rate_table_gives_ratios_to_the_baseline_measured_with_it():
    fast = common.Measurement('fast', 'fast one', 'images/s', [200.0, 210.0, 190.0])
    slow = common.Measurement('slow', 'slow one', 'images/s', [100.0, 90.0, 110.0])
    table = common.rate_table('Pipelines', [fast, slow], baseline_key='slow')
    assert table.columns[-1] == 'vs slow one'
    assert table.rows[0][1:] == ['200', '190-210', 3, '2.00x']
    assert table.rows[1][-1] == '1.00x (baseline)'
    restored = common.Table.from_json(json.loads(json.dumps(table.to_json())))
    assert restored == table
    assert '| fast one | 200 | 190-210 | 3 | 2.00x |' in restored.markdown()


def test_targets_table_says_met_missed_or_not_measured():
    measurements = {key: common.Measurement(key, key, 'images/s', [rate]) for key, rate in [
        ('input.train', 130.0), ('input.limit_flip', 100.0), ('input.classic_parallel', 110.0)]}
    rows = {row[1].split(':')[0]: row for row in harness.targets_table(measurements).rows}
    assert rows['input.limit_flip'][2:] == ['1.30x', '>= 0.95x', 'met']
    assert rows['input.classic_parallel'][-1] == 'missed'
    assert rows['torch.dataloader'][-1] == 'not measured (torch.dataloader)'


def test_targets_table_shows_a_narrowly_missed_ratio_with_more_digits():
    measurements = {key: common.Measurement(key, key, 'images/s', [rate]) for key, rate in [
        ('convert.scaffold', 179.6), ('convert.single_process', 100.0)]}
    rows = {row[1].split(':')[0]: row for row in harness.targets_table(measurements).rows}
    assert rows['convert.single_process'][2:] == ['1.796x', '>= 1.80x', 'missed']


def test_verdict_says_input_bound_only_when_the_pipeline_is_slower_than_the_model():
    assert train_bench.verdict(300, 500, 280) == (
        'input-bound: the pipeline delivers 300 of the 500 images/s the model consumes')
    relaxed = train_bench.verdict(900, 500, 490)
    assert relaxed.startswith('not input-bound: the pipeline delivers 900 images/s')
    assert 'share' not in relaxed
    assert 'share the same CPU cores' in train_bench.verdict(900, 500, 300)


def test_torch_crop_box_stays_inside_the_image_and_output_has_the_training_shape(tmp_path):
    rng = random.Random(0)
    for width, height in [(512, 512), (640, 100), (3, 400)]:
        for _ in range(50):
            left, top, right, bottom = torch_bench.random_resized_crop_box(width, height, rng)
            assert 0 <= left < right <= width and 0 <= top < bottom <= height
    path = str(tmp_path / 'photo.jpg')
    common.photo_like_image(np.random.default_rng(1), size=80).save(path)
    crop = torch_bench.load_training_crop(path, 24, rng)
    assert crop.shape == (24, 24, 3) and crop.dtype == np.uint8


def test_harness_rejects_a_folder_without_images(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        harness.parse_arguments(['--images', str(tmp_path)])
    assert raised.value.code == 2
    assert 'no .jpg, .jpeg or .png files' in capsys.readouterr().err


def test_context_round_trips_through_json(tmp_path):
    context = common.Context(quick=True, repeats=2, images_dir='/images', image_count=5,
                             train_files='/records/bench-*.tfrecord', work_dir=str(tmp_path))
    context.save(str(tmp_path / 'context.json'))
    assert common.Context.load(str(tmp_path / 'context.json')) == context
    assert context.batches(4, 16) == 4


def test_results_markdown_has_machine_summary_and_every_module(tmp_path):
    args = harness.parse_arguments(['--quick'])
    train = common.Measurement('input.train', 'scaffold train', 'images/s', [300.0, 310.0, 290.0])
    classic = common.Measurement('input.classic_parallel', 'classic', 'images/s', [200.0])
    tables = {'input_bench': [common.rate_table('Input', [train, classic])],
              'torch_bench': [common.skipped_table('PyTorch', 'torch is not installed.')]}
    text = harness.results_markdown(args, ['--quick'], [('cores', '2 usable')], tables,
                                    {'input_bench': (12.0, 20.0), 'torch_bench': (1.0, 0.5)},
                                    40.0, 25.0)
    assert text.startswith('# Benchmark results\n')
    assert '`python -m benchmarks --quick` (quick mode) in 40 s, 25 s of CPU time' in text
    assert '| cores | 2 usable |' in text
    assert '| scaffold train: 300 | classic: 200 | 1.50x | >= 1.30x | met |' in text
    assert '| scaffold train | 300 | 290-310 | 3 | 1.50x |' in text, 'side by side vs classic'
    assert '## torch_bench (1 s, 0 s of CPU)' in text and 'Skipped: torch is not installed.' in text
    harness.write_results(str(tmp_path / 'RESULTS.md'), text)
    assert (tmp_path / 'RESULTS.md').read_text() == text
    assert os.listdir(tmp_path) == ['RESULTS.md']


def test_table_notes_are_paragraphs_and_bullets_stay_one_list():
    table = common.Table('T', ['a'], [[1]], ['- one', '- two', '', 'closing words', 'more'])
    assert table.markdown() == ('### T\n\n| a |\n|---|\n| 1 |\n\n- one\n- two\n\nclosing words\n\n'
                                'more\n')
    assert common.skipped_table('S', 'why.').markdown() == '### S\n\nSkipped: why.\n'


def test_input_section_replaces_only_its_own_section(tmp_path):
    readme = tmp_path / 'README.md'
    readme.write_text('# Benchmarks\n\n## Input pipeline\n\nold 512\n\n## Training\n\nkept\n')
    input_bench.write_section('## Input pipeline, 1024x1024 photos\n\nnew 1024\n', path=str(readme),
                              section='## Input pipeline, 1024x1024 photos')
    input_bench.write_section('## Input pipeline\n\nnew 512\n', path=str(readme))
    text = readme.read_text()
    assert 'old 512' not in text and 'new 512' in text and 'new 1024' in text and 'kept' in text
    assert text.index('## Input pipeline\n') < text.index('## Training') < text.index('1024x1024')


def test_input_tables_measure_every_pipeline_on_real_shards(shapes_tfrecords, tmp_path, monkeypatch):
    monkeypatch.setattr(input_bench, 'BATCH', 8)
    monkeypatch.setattr(input_bench, 'OUTPUT_SIDE', 32)
    monkeypatch.setattr(input_bench, 'CLASSIC_RESIZE', 40)
    context = common.Context(quick=True, repeats=1, images_dir=shapes_tfrecords['dir'], image_count=60,
                             train_files=shapes_tfrecords['train_files'], work_dir=str(tmp_path))
    training, others = input_bench.tables(context)
    keys = [key for key, _, _ in input_bench.PIPELINES]
    rows = training.markdown() + others.markdown()
    for _, label, _ in input_bench.PIPELINES:
        assert label in rows
    assert keys.index('input.eval') == len(training.rows), 'the training table ends at the first eval pipeline'
    assert 'x the necessary-work limit' in training.markdown() and 'CPU time per image' in training.markdown()
    assert 'Second epoch with `cache: memory`' in others.markdown()
    measured = training.measurements + others.measurements
    assert len(measured) == len(keys) and all(run > 0 for found in measured for run in found.runs)
