"""The engine: the codec, segment files and the LMDB index joined into an archive."""
