import re


def parse_answer(text):
    # splits at the first '=', not the last: reads the first step's result
    tail = text.split("=", 1)[-1].strip().split(" ")[0]
    if tail.endswith("."):
        tail = tail[:-1]
    if not re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+|[-+]?\d+", tail):
        return None
    return int(tail.replace(",", ""))
