"""Lesson 02 exercises: measure tokenizer pitfalls yourself.

Fill in each function, then run the checks from a notebook:

    import course; course.check("02")

or from a terminal: `python -m pytest tests/exercises/test_ex02.py --target exercises`.
`enc` below is a `tiktoken.Encoding`, e.g. `tiktoken.get_encoding("cl100k_base")`
(run `import course` first so tiktoken finds its files offline).
"""

import torch


def tokens_per_char(texts: dict[str, str], enc) -> dict[str, float]:
    """Tokens per character of each text: {name: len(tokens) / len(characters)}.

    `texts` maps a name (e.g. a language) to a text; encode each with
    `enc.encode` and divide by its number of Unicode characters (len of the
    str, not of its UTF-8 bytes). Keep the keys and their order. An empty text
    has no tokens per character: raise ValueError, and say which text it was
    (its name, the key) in the message.
    """
    raise NotImplementedError("tokens_per_char: len(enc.encode(text)) / len(text) for each text")


def digit_split(number: str, enc) -> tuple[int, ...]:
    """How `enc` splits `number`: the length of each token, in characters, in order.

    e.g. cl100k_base turns "1234567" into "123" "456" "7", so the answer is
    (3, 3, 1). Use `enc.decode_single_token_bytes(id)` to see each token's bytes.
    """
    raise NotImplementedError("digit_split: encode, then the length of each token's bytes")


def extensions(vocab: dict[int, bytes], piece: bytes) -> list[int]:
    """Ids of the tokens that strictly extend `piece`, sorted ascending.

    A token extends `piece` when its bytes start with `piece` and are longer.
    If a prompt ends in the token `piece`, these are the tokens the text could
    have continued with *inside* that token: e.g. in cl100k_base, " http"
    extends to " https", " http://", ... `vocab` maps id -> bytes.
    """
    raise NotImplementedError("extensions: ids whose bytes start with piece and are longer")


def unseen_tokens(ids, vocab_size: int) -> list[int]:
    """The token ids in range(vocab_size) that never occur in `ids`, sorted ascending.

    `ids` is a 1-D tensor (or list) of token ids, e.g. a model's whole training
    set. These are the tokens whose embedding rows never got a gradient as an
    *input*. Raise ValueError if an id is negative or >= vocab_size.
    """
    raise NotImplementedError("unseen_tokens: count each id (torch.bincount) and keep the zeros")


def drift_stats(before: torch.Tensor, after: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """How far the embedding rows selected by `mask` moved in training.

    `before`, `after`: (vocab, dim) embedding matrices; `mask`: (vocab,) bool.
    For the selected rows, with delta_i = after_i - before_i, return
      "drift":     the mean over the rows of ||delta_i||  (L2 norm);
      "own_drift": the mean of ||delta_i - mean_j(delta_j)||, the mean taken
                   over the selected rows: how much of each row's move is its
                   own rather than the move the whole group made together.
    Return plain Python floats. Raise ValueError if the shapes differ or the
    mask selects no row.
    """
    raise NotImplementedError("drift_stats: delta = after - before on the masked rows; mean norms")


def heal(ids, vocab: dict[int, bytes], back: int = 1) -> tuple[list[int], bytes, list[int]]:
    """Token healing: undo the end of a prompt that may have cut a token in two.

    A prompt "The capital of France is Par" ends in the token " Par", which in
    training text almost never precedes "is" (" Paris" is one token). Healing
    backs up over the last `back` tokens and lets the model write that text again,
    restricted so that what it writes agrees with the removed text.

    `ids`: the prompt's token ids; `vocab`: {id: bytes}. Return a tuple
      (the ids kept, the removed bytes, the allowed ids sorted ascending),
    where the allowed ids are every token a generation's *first* token may be
    for its text to continue the original prompt's text -- think about which
    tokens can come first when the text generated must begin with the removed
    bytes, including when the generation takes more than one token to get past
    them. (A token with no bytes never helps.) Raise ValueError if `back` is
    not between 1 and the number of tokens.
    """
    raise NotImplementedError("heal: the removed bytes, then every token that agrees with them")
