"""The converter a user writes in twenty lines: the baseline of benchmarks/convert_bench.py.

    python benchmarks/plain_convert_loop.py IMAGES_DIR OUT.tfrecord [MAX_EDGE [QUALITY]]

Pillow opens each file, converts it to RGB, shrinks it with `thumbnail` (bilinear) and saves it
as a JPEG; one TFRecordWriter stores it with its class folder's label.
"""
import io
import os
import sys

import tensorflow as tf
from PIL import Image


def feature(value):
    if isinstance(value, int):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def main(images_dir, out_path, max_edge=384, quality=90):
    classes = sorted(os.listdir(images_dir))
    with tf.io.TFRecordWriter(out_path) as writer:
        for label, name in enumerate(classes):
            for file_name in sorted(os.listdir(os.path.join(images_dir, name))):
                image = Image.open(os.path.join(images_dir, name, file_name)).convert('RGB')
                image.thumbnail((max_edge, max_edge), Image.BILINEAR)
                buffer = io.BytesIO()
                image.save(buffer, 'JPEG', quality=quality)
                writer.write(tf.train.Example(features=tf.train.Features(feature={
                    'image/encoded': feature(buffer.getvalue()), 'image/format': feature(b'jpeg'),
                    'image/height': feature(image.height), 'image/width': feature(image.width),
                    'image/channels': feature(3), 'image/class/label': feature(label),
                    'image/class/text': feature(name.encode()),
                    'image/filename': feature(file_name.encode())})).SerializeToString())


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], *[int(value) for value in sys.argv[3:5]])
