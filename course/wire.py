"""What may cross from a learner's sandboxed code back to the grader: plain data only.

Used by the exercise checks (lessons 00-05, `course.check`, `python -m course grade`),
through course/sandbox.py. The learner's code runs in another process; every value it
hands back is written as JSON by `encode` and rebuilt by `decode`, which accepts
nothing but:

    None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset,
    torch.Tensor  (from {"dtype", "shape", flat list of numbers}),
    handles       (a number naming an object that stays in the sandbox).

Why so strict: a check compares what the learner returned with a reference. If the
learner could send back an *object*, it could send one whose `__eq__` always says
True, or one that patches the grader when unpickled. Plain data has no behaviour,
so the comparison the grader makes is the comparison the check author wrote.
Anything that is not data (a function, a class, an nn.Module instance) comes back
as a handle whose methods are called remotely. `decode` never imports, evals or
unpickles; it only builds the types above, checking every field.
"""

from __future__ import annotations

import base64
import math

import torch

# dtypes a tensor may arrive in; anything else is refused
DTYPES = {
    str(dt).removeprefix("torch."): dt
    for dt in (torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32,
               torch.int16, torch.int8, torch.uint8, torch.bool)
}
MAX_DEPTH = 200


class WireError(Exception):
    """A message from the sandbox that is not well-formed data."""


# ----------------------------------------------------------------------------- sandbox side


def encode(x, handle, depth: int = 0):
    """`x` as JSON-able data; objects that are not data become handle(x) -> int.

    Runs inside the sandbox: nothing here is trusted, the grader re-checks all of it.
    Subclasses of the plain types (an OrderedDict, a namedtuple) are sent as their
    plain contents, so they lose any behaviour on the way.
    """
    if depth > MAX_DEPTH:
        raise WireError("data nested too deeply to send back")
    if x is None or type(x) in (bool, str):
        return x
    if isinstance(x, str):
        return str(x)
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x)
    if isinstance(x, torch.Tensor):
        return _encode_tensor(x, handle)
    if type(x).__module__ == "numpy" and hasattr(x, "tolist"):
        return encode(torch.as_tensor(x) if hasattr(x, "shape") and x.shape else x.item(), handle, depth + 1)
    if isinstance(x, (bytes, bytearray)):
        return {"$": "bytes", "v": base64.b64encode(bytes(x)).decode("ascii")}
    if isinstance(x, list):
        return [encode(v, handle, depth + 1) for v in x]
    if isinstance(x, tuple):
        return {"$": "tuple", "v": [encode(v, handle, depth + 1) for v in x]}
    if isinstance(x, dict):
        return {"$": "dict", "v": [[encode(k, handle, depth + 1), encode(v, handle, depth + 1)] for k, v in x.items()]}
    if isinstance(x, (set, frozenset)):
        kind = "frozenset" if isinstance(x, frozenset) else "set"
        return {"$": kind, "v": [encode(v, handle, depth + 1) for v in x]}
    return {"$": "handle", "id": handle(x), "type": type(x).__name__}


def _encode_tensor(t: torch.Tensor, handle):
    t = t.detach()
    name = str(t.dtype).removeprefix("torch.")
    if name not in DTYPES or t.is_sparse or t.device.type == "meta":
        return {"$": "handle", "id": handle(t), "type": f"Tensor[{name}]"}
    t = t.cpu()
    values = (t.float() if t.dtype in (torch.float16, torch.bfloat16) else t).flatten().tolist()
    return {"$": "tensor", "dtype": name, "shape": list(t.shape), "v": values}


# ----------------------------------------------------------------------------- grader side


def decode(x, make_handle, depth: int = 0):
    """Rebuild plain data from parsed JSON; make_handle(id, type_name) for handles."""
    if depth > MAX_DEPTH:
        raise WireError("data nested too deeply")
    if x is None or type(x) in (bool, int, float, str):
        return x
    if type(x) is list:
        return [decode(v, make_handle, depth + 1) for v in x]
    if type(x) is not dict:
        raise WireError(f"unexpected {type(x).__name__} in a message")
    tag = x.get("$")
    if tag in ("tuple", "set", "frozenset"):
        items = [decode(v, make_handle, depth + 1) for v in _list(x, "v")]
        try:
            return {"tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
        except TypeError as e:  # an unhashable member
            raise WireError(f"bad {tag}: {e}") from None
    if tag == "dict":
        out = {}
        for pair in _list(x, "v"):
            if type(pair) is not list or len(pair) != 2:
                raise WireError("a dict item must be a [key, value] pair")
            key = decode(pair[0], make_handle, depth + 1)
            try:
                out[key] = decode(pair[1], make_handle, depth + 1)
            except TypeError as e:
                raise WireError(f"bad dict key: {e}") from None
        return out
    if tag == "bytes":
        try:
            return base64.b64decode(_str(x, "v"), validate=True)
        except ValueError as e:
            raise WireError(f"bad bytes: {e}") from None
    if tag == "tensor":
        return _decode_tensor(x)
    if tag == "handle":
        hid = x.get("id")
        if type(hid) is not int:
            raise WireError("a handle's id must be an int")
        return make_handle(hid, _str(x, "type")[:100])
    raise WireError(f"unknown tag {tag!r}")


def _decode_tensor(x) -> torch.Tensor:
    dtype = DTYPES.get(_str(x, "dtype"))
    if dtype is None:
        raise WireError(f"tensor dtype {x.get('dtype')!r} not allowed")
    shape, values = _list(x, "shape"), _list(x, "v")
    if not all(type(n) is int and n >= 0 for n in shape):
        raise WireError("a tensor shape must be a list of non-negative ints")
    if math.prod(shape) != len(values):
        raise WireError(f"tensor of shape {shape} sent with {len(values)} values")
    kinds = (bool,) if dtype == torch.bool else (int,) if not dtype.is_floating_point else (int, float)
    if not all(type(v) in kinds for v in values):
        raise WireError(f"tensor values must be {' or '.join(k.__name__ for k in kinds)}")
    return torch.tensor(values, dtype=dtype).reshape(shape)


def _list(x, key):
    v = x.get(key)
    if type(v) is not list:
        raise WireError(f"field {key!r} must be a list")
    return v


def _str(x, key):
    v = x.get(key)
    if type(v) is not str:
        raise WireError(f"field {key!r} must be a string")
    return v
