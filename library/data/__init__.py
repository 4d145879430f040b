"""The input machinery: reading TFRecord shards and image folders, checking them, caching and batching.

project/input_fn.py and project/preprocessing.py (the recipe) call into it;
nothing here knows which crop, resize or augmentation a project uses.
"""
