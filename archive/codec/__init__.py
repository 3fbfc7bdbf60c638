"""The tree-buf codec: records shredded into typed columns, each chunk encoded its own best way.

Importing this package registers every encoding (the modules below register on import).
"""
from archive.codec import bools, floats, ints, strings, templates, typed_strings  # noqa: F401
from archive.codec import floats_stride  # noqa: F401  (after floats: float-plain stays the fallback)
