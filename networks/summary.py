"""The lecture's per-layer table for any Keras model: output shape, activation memory (values
and bytes per image), weights and multiply-adds per layer, and the totals; and the zoo's list.

Multiply-adds count convolutions (output positions x kernel volume x input channels per group
x filters; transposed: input positions x kernel volume x input channels x filters) and dense
layers (inputs x units per position); batch norm, pooling, normalisation and activations are
counted as none, as the lecture's tables do. Memory is every layer's output, the input included
(a free size, as a served model's any-size image input, counts as 0 and prints as "?").
"""
import math

import keras


def _shape(tensor):
    """Per-example shape; None for a free size (a served model's input takes any image size)."""
    return tuple(None if size is None else int(size) for size in tensor.shape[1:])


def _values(shape):
    """Values in a tensor of per-example `shape`; 0 while a size is free."""
    return 0 if None in shape else math.prod(shape)


def multiply_adds(layer):
    """Multiply-adds of one call of `layer` on one example (0 for layers without products)."""
    if isinstance(layer, keras.layers.Dense):
        in_shape = _shape(layer.input)
        return math.prod(in_shape[:-1]) * in_shape[-1] * layer.units
    conv_classes = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
    transposed = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)
    if isinstance(layer, transposed):
        in_shape = _shape(layer.input)
        return math.prod(in_shape[:-1]) * math.prod(layer.kernel_size) * in_shape[-1] * layer.filters
    if isinstance(layer, conv_classes):
        in_channels = _shape(layer.input)[-1]
        positions = math.prod(_shape(layer.output)[:-1])
        return positions * math.prod(layer.kernel_size) * in_channels // layer.groups * layer.filters
    return 0


def _itemsize(dtype):
    """Bytes per value of a tensor dtype."""
    name = keras.backend.standardize_dtype(dtype)
    return {"float16": 2, "bfloat16": 2, "uint8": 1, "int8": 1, "bool": 1}.get(name, 8 if "64" in name else 4)


def _rows(model, prefix=""):
    for layer in model.layers:
        if isinstance(layer, keras.Model):  # a backbone inside a pipeline's model
            yield from _rows(layer, f"{prefix}{layer.name}/")
            continue
        if isinstance(layer, keras.layers.InputLayer) and prefix:
            continue  # a nested model's input is its caller's tensor, already a row
        outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        values = sum(_values(_shape(output)) for output in outputs)
        yield {
            "name": prefix + layer.name,
            "type": type(layer).__name__,
            "output_shape": list(_shape(outputs[0])),
            "memory_values": values,
            "memory_bytes": values * _itemsize(outputs[0].dtype),
            "weights": layer.count_params() if layer.built else 0,
            "multiply_adds": multiply_adds(layer),
        }


def table(model):
    """{"name", "rows": [per layer], "totals": {memory_values, memory_bytes, weights,
    trainable_weights, multiply_adds}} for `model` (nested models expanded)."""
    rows = list(_rows(model))
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    totals = {key: sum(row[key] for row in rows)
              for key in ("memory_values", "memory_bytes", "weights", "multiply_adds")}
    totals["trainable_weights"] = int(trainable)
    return {"name": model.name, "input_shape": list(_shape(model.inputs[0])), "rows": rows,
            "totals": totals}


def millions(count):
    """A count in millions with two decimals, truncated as the lecture writes 62,378,344 as
    62.37 M."""
    return f"{math.floor(count / 1e4) / 100:.2f} M"


def format_table(data):
    """The per-layer table as text lines."""
    header = f"{'layer':<34} {'type':<26} {'output':<18} {'memory':>11} {'bytes':>13} " \
             f"{'weights':>12} {'mult-adds':>15}"
    shown = tuple("?" if size is None else size for size in data["input_shape"])
    lines = [f"{data['name']}: input {shown}", header, "-" * len(header)]
    for row in data["rows"]:
        shape = "x".join("?" if size is None else str(size) for size in row["output_shape"])
        lines.append(f"{row['name']:<34.34} {row['type']:<26.26} {shape:<18} {row['memory_values']:>11,} "
                     f"{row['memory_bytes']:>13,} {row['weights']:>12,} {row['multiply_adds']:>15,}")
    totals = data["totals"]
    lines.append("-" * len(header))
    lines.append(f"{'total':<79} {totals['memory_values']:>11,} {totals['memory_bytes']:>13,} "
                 f"{totals['weights']:>12,} {totals['multiply_adds']:>15,}")
    lines.append(f"memory {millions(totals['memory_values'])} values per image "
                 f"({totals['memory_bytes'] / 2**20:.2f} MiB), weights {millions(totals['weights'])} "
                 f"({totals['trainable_weights']:,} trainable), "
                 f"multiply-adds {totals['multiply_adds'] / 1e9:.3f} G per image")
    return lines


def zoo_row(name):
    """One line of `cnn zoo`: the network built at its input size with its default classes."""
    import networks

    entry = networks.get(name)
    totals = table(networks.build(name))["totals"]
    return {"name": name, "input": list(entry.input_shape), "parameters": totals["weights"],
            "multiply_adds": totals["multiply_adds"], "paper": entry.paper, "year": entry.year}


def format_zoo_row(row):
    shape = "x".join(map(str, row["input"]))
    return (f"{row['name']:<16} {shape:<13} {row['parameters']:>12,} {row['multiply_adds']:>15,}  "
            f"{row['year']}  {row['paper']}")


ZOO_HEADER = f"{'network':<16} {'input':<13} {'parameters':>12} {'mult-adds/image':>15}  year  paper"
