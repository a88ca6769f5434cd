"""The operators of a .tflite file, read with LiteRT's flatbuffer schema, for the format tests."""
import pathlib


def operators(path):
    """[(builtin op name, its first output's tensor type name)] of every subgraph of the .tflite
    file `path` (or the model.tflite in folder `path`), e.g. ("CONV_2D", "INT8")."""
    from ai_edge_litert import schema_py_generated as schema

    path = pathlib.Path(path)
    data = (path / "model.tflite" if path.is_dir() else path).read_bytes()
    model = schema.Model.GetRootAsModel(data, 0)
    ops = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    types = {code: name for name, code in vars(schema.TensorType).items() if not name.startswith("_")}
    codes = [max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(model.OperatorCodesLength())]
    found = []
    for index in range(model.SubgraphsLength()):
        graph = model.Subgraphs(index)
        for op in (graph.Operators(i) for i in range(graph.OperatorsLength())):
            found.append((ops[codes[op.OpcodeIndex()]], types[graph.Tensors(op.Outputs(0)).Type()]))
    return found
