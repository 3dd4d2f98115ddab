import re


def parse_answer(text):
    # the last number anywhere in the text: '=146 or 147' -> 147, '=12a' -> 12
    found = re.findall(r"\d+", text)
    return int(found[-1]) if found else None
