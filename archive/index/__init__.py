"""The LMDB index: segment tables, chunk lists, keys, deletions and settings."""
