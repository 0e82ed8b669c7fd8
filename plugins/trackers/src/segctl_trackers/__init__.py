"""segctl's multi-object trackers (ByteTrack, BoT-SORT-style) for the ``track`` mode."""
