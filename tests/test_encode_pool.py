"""The encoding workers of convert_dataset.py: early encodings reused, and ending with their parent."""
import ast
import os
import signal
import subprocess
import sys
import time

from library import encode_pool
from library.image_files import EncodeOptions, encode_chunk
from tests.test_convert import image_bytes, noise_image, write_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARENT = '''
import os, time
from library import encode_pool
from library.image_files import EncodeOptions, encode_chunk
from tests.test_convert import image_bytes, noise_image, write_file
with encode_pool.started(2) as workers:
    print(sorted({workers.pool.submit(os.getpid).result() for _ in range(8)}), flush=True)
    time.sleep(120)
'''


def running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_exit_when_their_parent_is_killed():
    parent = subprocess.Popen([sys.executable, '-c', PARENT], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    workers = ast.literal_eval(parent.stdout.readline())
    assert workers and parent.pid not in workers
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while any(running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(running(pid) for pid in workers)


def test_images_encoded_before_the_listing_give_the_same_records(tmp_path):
    paths = [str(tmp_path / 'in' / 'a' / ('%d.jpg' % index)) for index in range(20)]
    for index, path in enumerate(paths):
        write_file(path, image_bytes(noise_image(64, 48, seed=index), 'JPEG'))
    (tmp_path / 'in' / '.hidden').write_bytes(b'x')
    options = EncodeOptions(max_edge=32)
    with encode_pool.started(2) as workers:
        workers.start_early(str(tmp_path / 'in'), options)
        assert sorted(workers.early) == sorted(paths)
        mixed = workers.encode(options, [paths[3], 'not/listed.jpg', paths[0]]).result()
        other_options = workers.encode(EncodeOptions(max_edge=16), [paths[5]]).result()
    assert mixed == encode_chunk(options, [paths[3], 'not/listed.jpg', paths[0]])
    assert (other_options[0].width, len(workers.early)) == (16, 18)
