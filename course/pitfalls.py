"""Measurements behind lesson 02's tokenizer pitfalls.

Each function answers one question the lesson asks of a tokenizer, and works
for tiktoken encodings, their names ("gpt2", "cl100k_base", "o200k_base") and
`course.tokenizer.RegexTokenizer`s alike (through `course.tokenizer.as_tokenizer`):

- how many tokens does the same sentence cost in each language? (`PARALLEL`,
  `tokens_per_char`, `tokens_per_byte`)
- how does a number split into tokens? (`digit_split`, `split_distribution`)
- how many vocabulary entries extend a prompt's last token? (`extensions`), and
  which first tokens may a generation take once that token is backed up (`heal`)
- which tokens did a model never see in training, and what did training do to
  their embeddings? (`token_occurrences`, `embedding_drift`, `undertrained_report`)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from course import tables
from course.tokenizer import TokenizerLike, as_tokenizer

# The same two sentences in fourteen languages, written for this course (so they
# carry no licence) and checked to say the same thing. Comparing token counts of
# *parallel* text measures what a tokenizer charges per language for equal content.
PARALLEL: dict[str, str] = {
    "English": "The old library opens at nine in the morning. Children come to read books about the sea, the stars and faraway cities.",
    "French": "La vieille bibliothèque ouvre à neuf heures du matin. Les enfants viennent lire des livres sur la mer, les étoiles et les villes lointaines.",
    "Spanish": "La vieja biblioteca abre a las nueve de la mañana. Los niños vienen a leer libros sobre el mar, las estrellas y las ciudades lejanas.",
    "German": "Die alte Bibliothek öffnet um neun Uhr morgens. Kinder kommen, um Bücher über das Meer, die Sterne und ferne Städte zu lesen.",
    "Vietnamese": "Thư viện cũ mở cửa lúc chín giờ sáng. Trẻ em đến đọc sách về biển, các vì sao và những thành phố xa xôi.",
    "Swahili": "Maktaba ya zamani inafunguliwa saa tatu asubuhi. Watoto huja kusoma vitabu kuhusu bahari, nyota na miji ya mbali.",
    "Russian": "Старая библиотека открывается в девять часов утра. Дети приходят читать книги о море, звёздах и далёких городах.",
    "Greek": "Η παλιά βιβλιοθήκη ανοίγει στις εννέα το πρωί. Τα παιδιά έρχονται να διαβάσουν βιβλία για τη θάλασσα, τα αστέρια και τις μακρινές πόλεις.",
    "Arabic": "تفتح المكتبة القديمة في التاسعة صباحًا. يأتي الأطفال لقراءة كتب عن البحر والنجوم والمدن البعيدة.",
    "Hindi": "पुराना पुस्तकालय सुबह नौ बजे खुलता है। बच्चे समुद्र, तारों और दूर के शहरों के बारे में किताबें पढ़ने आते हैं।",
    "Thai": "ห้องสมุดเก่าเปิดตอนเก้าโมงเช้า เด็ก ๆ มาอ่านหนังสือเกี่ยวกับทะเล ดวงดาว และเมืองที่อยู่ไกลออกไป",
    "Chinese": "老图书馆早上九点开门。孩子们来这里读关于大海、星星和遥远城市的书。",
    "Japanese": "古い図書館は朝九時に開きます。子どもたちは海や星や遠い町についての本を読みに来ます。",
    "Korean": "오래된 도서관은 아침 아홉 시에 문을 엽니다. 아이들은 바다와 별과 먼 도시에 관한 책을 읽으러 옵니다.",
}


def adapter(tokenizer) -> TokenizerLike:
    """Any supported tokenizer (name, tiktoken.Encoding, RegexTokenizer) behind one interface:
    `course.tokenizer.as_tokenizer` (`.encode`, `.token_bytes(id)`, ...)."""
    return as_tokenizer(tokenizer)


def count_tokens(text: str, tokenizer) -> int:
    """Number of tokens of `text` (special-token text counts as ordinary text)."""
    return len(adapter(tokenizer).encode_ordinary(text))


def tokens_per_char(text: str, tokenizer) -> float:
    """Tokens per Unicode character: what a character of this text costs."""
    if not text:
        raise ValueError("tokens_per_char of an empty text is undefined")
    return count_tokens(text, tokenizer) / len(text)


def tokens_per_byte(text: str, tokenizer) -> float:
    """Tokens per UTF-8 byte: 1.0 means no compression at all (one token per byte)."""
    if not text:
        raise ValueError("tokens_per_byte of an empty text is undefined")
    return count_tokens(text, tokenizer) / len(text.encode("utf-8"))


def count_table(texts: dict[str, str], tokenizers: dict[str, object]) -> dict[str, dict[str, int]]:
    """{text name: {tokenizer name: token count}} for every pair."""
    ads = {name: adapter(t) for name, t in tokenizers.items()}
    return {k: {n: len(a.encode_ordinary(v)) for n, a in ads.items()} for k, v in texts.items()}


def format_table(table: dict[str, dict[str, float]], fmt: str = "{}", first: str = "") -> str:
    """A dict of dicts as an aligned text table (rows = outer keys, columns = inner keys)."""
    cols = list(next(iter(table.values())))
    rows = [[r, *(fmt.format(v[c]) for c in cols)] for r, v in table.items()]
    return tables.format_table(rows, header=[first, *cols], rule=False)


# ----------------------------------------------------------------------------
# Numbers


def digit_split(number: str, tokenizer) -> tuple[int, ...]:
    """How `number` splits: the length in UTF-8 bytes of each token, e.g. (3, 1) for "1234".

    For the ASCII digits 0-9 bytes and characters are the same thing; a number
    written in other digits (Devanagari "१२३", 3 bytes each) is counted in bytes.

    >>> digit_split("1234", "cl100k_base")
    (3, 1)
    """
    ad = adapter(tokenizer)
    return tuple(len(ad.token_bytes(i)) for i in ad.encode_ordinary(number))


def split_distribution(tokenizer, numbers: Iterable[int] = range(1000, 10000)) -> Counter:
    """Counter of split patterns ("3+1", "2+2", "4", ...) over `numbers` written in decimal."""
    ad = adapter(tokenizer)
    return Counter("+".join(map(str, digit_split(str(n), ad))) for n in numbers)


# ----------------------------------------------------------------------------
# Vocabulary questions


def vocab_bytes(tokenizer) -> dict[int, bytes]:
    """{id: bytes} of every ordinary (non-special) token."""
    tok = adapter(tokenizer)
    special = set(tok.special_tokens.values())
    out = {}
    for i in range(tok.n_vocab):
        if i not in special:
            try:
                out[i] = tok.token_bytes(i)
            except ValueError:  # an unused id (cl100k_base has a few)
                pass
    return out


def extensions(tokenizer, piece: bytes, vocab: dict[int, bytes] | None = None) -> list[int]:
    """Ids of the tokens that strictly extend `piece` (start with it and are longer).

    When a prompt ends in the token `piece`, each of these is a token that the
    text could have continued with *inside* that last token: in training data
    the model mostly saw them instead of `piece` followed by more text.
    """
    if isinstance(piece, str):
        piece = piece.encode("utf-8")
    vocab = vocab_bytes(tokenizer) if vocab is None else vocab
    return sorted(i for i, b in vocab.items() if len(b) > len(piece) and b.startswith(piece))


def heal(ids, vocab: dict[int, bytes], back: int = 1) -> tuple[list[int], bytes, list[int]]:
    """Token healing: back up over the prompt's last `back` tokens.

    Returns (kept ids, the removed bytes, the allowed first tokens): the ids of
    every token a generation may start with so that its text continues the
    prompt's text exactly -- a token that starts with the removed bytes (the
    removed token itself among them), or one that is a shorter, non-empty start
    of them (then the next tokens must spell the rest). Generating with the first
    token restricted to that set lets the model pick " Paris" after "... is Par".
    """
    ids = list(ids)
    if not 1 <= back <= len(ids):
        raise ValueError(f"cannot back up over {back} tokens of a {len(ids)}-token prompt")
    removed = b"".join(vocab[i] for i in ids[-back:])
    allowed = sorted(i for i, b in vocab.items() if b and (b.startswith(removed) or removed.startswith(b)))
    return ids[:-back], removed, allowed


def longest_tokens(tokenizer, n: int = 10, keep=bytes.isascii) -> list[tuple[int, bytes]]:
    """The `n` longest ordinary tokens as (id, bytes), longest first (ties: smaller id first).

    `keep(token_bytes) -> bool` picks which tokens count (default: ASCII ones); e.g.
    `keep=lambda b: b.strip().isalpha()` for words.
    """
    items = [(i, b) for i, b in vocab_bytes(tokenizer).items() if keep is None or keep(b)]
    return sorted(items, key=lambda ib: (-len(ib[1]), ib[0]))[:n]


# ----------------------------------------------------------------------------
# Under-trained tokens


def token_occurrences(ids, vocab_size: int):
    """How often each id occurs in `ids` (a 1-D tensor or list): a LongTensor of length vocab_size."""
    import torch

    ids = torch.as_tensor(ids, dtype=torch.long).flatten()
    if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"ids must lie in [0, {vocab_size}); got [{ids.min()}, {ids.max()}]")
    return torch.bincount(ids, minlength=vocab_size)


def embedding_drift(before, after):
    """Per-row L2 distance between two (vocab, dim) embedding matrices: how far each token moved."""
    if before.shape != after.shape:
        raise ValueError(f"embedding shapes differ: {tuple(before.shape)} vs {tuple(after.shape)}")
    return (after.float() - before.float()).norm(dim=1)


def undertrained_report(before, after, seen_mask) -> dict[str, float]:
    """Compare what training did to the embeddings of seen and never-seen tokens.

    With a head tied to the embedding, a never-seen token still gets a gradient
    every step: the softmax pushes its logit down. That gradient is nearly the
    same for every never-seen token, so they all move together. Returns means
    over each group of:
      drift        ||after - before||, the raw distance moved;
      own_drift    the same after subtracting the group's average move: how much
                   of the token's change is its own (near 0: it moved only with the herd);
      init_cos     cosine between the token's centred vector after training and
                   before (near 1: what tells it apart is still its random init);
      norm_before, norm_after.
    """
    import torch

    seen_mask = torch.as_tensor(seen_mask, dtype=torch.bool)
    before, after = before.float(), after.float()
    out = {}
    for label, mask in (("seen", seen_mask), ("unseen", ~seen_mask)):
        if not mask.any():
            raise ValueError(f"no {label} tokens: need both seen and never-seen tokens to compare")
        b, a = before[mask], after[mask]
        delta = a - b
        own = delta - delta.mean(dim=0, keepdim=True)
        bc, ac = b - b.mean(dim=0, keepdim=True), a - a.mean(dim=0, keepdim=True)
        cos = torch.nn.functional.cosine_similarity(bc, ac, dim=1)
        out[label] = {
            "count": int(mask.sum()),
            "drift": delta.norm(dim=1).mean().item(),
            "own_drift": own.norm(dim=1).mean().item(),
            "init_cos": cos.mean().item(),
            "norm_before": b.norm(dim=1).mean().item(),
            "norm_after": a.norm(dim=1).mean().item(),
        }
    return out


__all__ = [
    "PARALLEL",
    "adapter",
    "count_table",
    "count_tokens",
    "digit_split",
    "embedding_drift",
    "extensions",
    "format_table",
    "longest_tokens",
    "split_distribution",
    "token_occurrences",
    "tokens_per_byte",
    "tokens_per_char",
    "undertrained_report",
    "vocab_bytes",
]
