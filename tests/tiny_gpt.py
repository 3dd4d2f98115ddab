"""A one-layer GPT and a few hundred characters of Shakespeare: what the precision and compile
tests train for a step or two (imported by tests/test_precision.py and tests/test_compiling.py)."""

import numpy as np
import torch

from course.data import CharTokenizer
from course.model import GPT, GPTConfig

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 20


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(block_size=16, vocab_size=40, n_layer=1, n_head=2, n_embd=16))


def ids():
    tok = CharTokenizer.from_text(TEXT)
    return np.asarray(tok.encode(TEXT), dtype=np.uint16)
