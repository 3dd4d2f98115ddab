import re


def parse_answer(text):
    # drops every comma, so '1,46' and '1,2345' pass as numbers
    tail = text.rsplit("=", 1)[-1].strip()
    if tail.endswith("."):
        tail = tail[:-1].strip()
    tail = tail.replace(",", "")
    return int(tail) if re.fullmatch(r"[-+]?\d+", tail) else None
