"""Weight files into a zoo network: Keras 3 `.weights.h5` files (saved with `save_weights`
from our network or its keras.applications twin) and the legacy `.h5` files keras.applications
downloads (ImageNet). Both are read layer by layer in the model's order, so a file with the
classification top also loads into the network built without it (transfer learning).
"""
import pathlib
import re


def _snake(name):
    """keras.src.utils.naming.to_snake_case: how Keras 3 names a layer's group in the file."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _keras3_arrays(store, model):
    """{layer name: [arrays]} from a `.weights.h5`: Keras 3 files address a model's layers by
    class name and position (`layers/conv2d_3/vars/0`), not by their names."""
    used, found = {}, {}
    for layer in model.layers:
        base = _snake(type(layer).__name__)
        key = base if base not in used else f"{base}_{used[base]}"
        used[base] = used.get(base, 0) + 1
        if not layer.weights:
            continue
        group = store.get(f"layers/{key}/vars")
        if group is not None:
            found[layer.name] = [group[str(i)][()] for i in range(len(group))]
    return found


def _legacy_arrays(store, model):
    """{layer name: [arrays]} from a legacy `.h5`: its layers with weights in order, matched to
    the model's layers with weights in order (as keras.applications loads them)."""
    if "model_weights" in store:  # a whole model saved in the legacy format
        store = store["model_weights"]
    saved = []
    for name in store.attrs["layer_names"]:
        group = store[name.decode() if isinstance(name, bytes) else name]
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs.get("weight_names", ())]
        if names:
            saved.append([group[n][()] for n in names])
    weighted = [layer for layer in model.layers if layer.weights]
    return {layer.name: arrays for layer, arrays in zip(weighted, saved)}


def load(model, path):
    """Load weight file `path` into `model`; a ValueError naming the file and the first layer
    that does not fit (missing or of another shape)."""
    import h5py

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path}: no such file")
    if path.suffix != ".h5":
        raise ValueError(f"weights file {path}: expected a .weights.h5 or .h5 file")
    try:
        store = h5py.File(path, "r")
    except OSError:
        raise ValueError(f"weights file {path}: not an HDF5 weights file") from None
    with store:
        if "layer_names" in store.attrs or "model_weights" in store:
            found = _legacy_arrays(store, model)
        elif "layers" in store:
            found = _keras3_arrays(store, model)
        else:
            raise ValueError(f"weights file {path}: neither a Keras .weights.h5 nor a legacy .h5 file")
    for layer in model.layers:
        if not layer.weights:
            continue
        arrays = found.get(layer.name)
        if arrays is None:
            raise ValueError(f"weights file {path} does not fit network {model.name}: "
                             f"no weights for layer {layer.name}")
        expected = [tuple(w.shape) for w in layer.weights]
        if [a.shape for a in arrays] != expected:
            raise ValueError(f"weights file {path} does not fit network {model.name}: layer "
                             f"{layer.name} has weights {expected}, the file "
                             f"{[a.shape for a in arrays]}")
        layer.set_weights(arrays)
