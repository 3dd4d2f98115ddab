def merge(ids, pair, idx):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(idx)
            i += 1  # forgets to step over the second id of the pair
        else:
            out.append(ids[i])
            i += 1
    return out
