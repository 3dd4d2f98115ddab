def parse_tool_call(text):
    # accepts anything with a '(' and never checks the name or the closing ')'
    text = text.strip()
    name, _, rest = text.partition("(")
    return name.strip(), rest.rstrip(")").strip()
