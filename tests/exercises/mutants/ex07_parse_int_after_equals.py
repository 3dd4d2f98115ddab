def parse_answer(text):
    # int() of what follows the last '=': no commas, no trailing period, errors on letters
    tail = text.rsplit("=", 1)[-1].strip()
    try:
        return int(tail)
    except ValueError:
        return None
