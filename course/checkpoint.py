"""Checkpoints: what the course writes to disk during training and reads back.

Used by lessons 03 and 04 (training runs) and by the commands.
"""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint or weights file that cannot be read, or does not fit the model/run it is loaded into."""
