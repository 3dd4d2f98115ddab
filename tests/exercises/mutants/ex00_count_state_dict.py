def count_parameters(model, trainable_only=False):
    return sum(t.numel() for t in model.state_dict().values())
