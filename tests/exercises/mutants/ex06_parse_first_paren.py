def parse_tool_call(text):
    # stops the argument at the first ')', cutting nested parentheses short
    text = text.strip()
    if "(" not in text or ")" not in text:
        raise ValueError(f"malformed tool call {text!r}")
    name, rest = text.split("(", 1)
    if not name.isidentifier():
        raise ValueError(f"bad tool name {name!r}")
    return name, rest.split(")", 1)[0].strip()
