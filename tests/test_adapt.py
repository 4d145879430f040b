"""The README's "Adapt it to your problem", followed step by step in a copy of the repository."""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTION = '## Adapt it to your problem'
COPY_IGNORED = shutil.ignore_patterns('.venv', '.git', 'runs', 'dataset', '__pycache__', '.pytest_cache',
                                      'benchmark_data', '*.pyc')
CLASSES = ('bar', 'dot')


def readme_blocks():
    """Returns [(language, text)] of the fenced code blocks of the README's adapt section, in order."""
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as stream:
        readme = stream.read()
    section = readme[readme.index(SECTION):]
    section = section[:section.index('\n## ', len(SECTION))]
    return re.findall(r'```(\w+)\n(.*?)```', section, flags=re.S)


def draw_images(folder, count, rng):
    """Writes `count` JPEGs per class: a horizontal bar or a dot, in random colours and places."""
    for name in CLASSES:
        os.makedirs(os.path.join(folder, name))
        for index in range(count):
            image = Image.new('RGB', (56, 48), tuple(int(v) for v in rng.integers(0, 90, 3)))
            draw = ImageDraw.Draw(image)
            x, y = (int(v) for v in rng.integers(8, 30, 2))
            colour = tuple(int(v) for v in rng.integers(160, 256, 3))
            if name == 'bar':
                draw.rectangle([4, y, 50, y + 6], fill=colour)
            else:
                draw.ellipse([x, y - 6, x + 14, y + 8], fill=colour)
            image.save(os.path.join(folder, name, '%03d.jpg' % index), quality=90)


def run_bash(script, cwd):
    environment = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    result = subprocess.run(['bash', '-e', '-c', script], cwd=cwd, env=environment, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def insert_before(path, marker, text, after=None):
    """Inserts `text` before the first `marker` in the file at `path` (after `after`, when given)."""
    with open(path) as stream:
        code = stream.read()
    at = code.index(marker, code.index(after) if after else 0)
    with open(path, 'w') as stream:
        stream.write(code[:at] + text + code[at:])


@pytest.mark.slow
def test_the_adapt_steps_of_the_readme_work_in_a_copy_of_the_repository(tmp_path):
    blocks = readme_blocks()
    assert [language for language, _ in blocks] == ['bash', 'yaml', 'python', 'python', 'python', 'bash']
    (_, convert), (_, config_set), (_, augmentation), (_, model_file), (_, registration), (_, train) = blocks
    copy = str(tmp_path / 'scaffold')
    shutil.copytree(ROOT, copy, ignore=COPY_IGNORED)
    rng = np.random.default_rng(0)
    draw_images(os.path.join(copy, 'my_images', 'train'), 16, rng)
    draw_images(os.path.join(copy, 'my_images', 'test'), 4, rng)

    run_bash(convert, copy)
    with open(os.path.join(copy, 'data', 'mine', 'train.json')) as stream:
        assert json.load(stream)['classes'] == list(CLASSES)
    with open(os.path.join(copy, 'project.yaml'), 'a') as stream:
        stream.write('\n' + config_set)
    insert_before(os.path.join(copy, 'project', 'preprocessing.py'), '    return pixels\n', augmentation,
                  after='def preprocess_for_train')
    with open(os.path.join(copy, 'project', 'models', 'tiny.py'), 'w') as stream:
        stream.write(model_file)
    insert_before(os.path.join(copy, 'project', 'models', '__init__.py'), '}', registration, after='MODELS = {')

    output = run_bash(train, copy)
    assert os.path.exists(os.path.join(copy, 'runs', 'mine', 'best', 'best.json'))
    exported = [name for name in os.listdir(os.path.join(copy, 'runs', 'mine', 'export')) if name.isdigit()]
    assert len(exported) == 1
    predictions = [json.loads(line) for line in output.splitlines() if line.startswith('{')]
    assert len(predictions) == 2 * 4
    assert {prediction['class_name'] for prediction in predictions} <= set(CLASSES)
