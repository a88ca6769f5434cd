"""Every pipeline trained once per test session with tiny settings (1 epoch), exported into one
folder of models, shared by the serving tests (tests/serving/) across the xdist workers."""
import dataclasses
import functools
import json
import pathlib

import pytest

import session_cache

TINY = {
    "digits": ["image_size=8", "filters=8,8,8", "dense_units=16"],
    "objects": ["image_size=16", "width=4", "bundled_per_class=6"],
    "audio": ["bundled_per_class=6", "clip_seconds=0.25", "width=8", "n_mels=16"],
    "text": ["bundled_size=200", "sequence_length=16", "filters=8", "embedding_dim=16", "max_tokens=500"],
    "volumes": ["shape=16,16,16", "filters=4,8", "bundled_count=12", "batch_size=4", "max_shift=1"],
    "segment": ["shape=16,16,16", "base_filters=4", "depth=2", "bundled_count=8", "batch_size=4",
                "crops_per_volume=2"],
}


@dataclasses.dataclass(frozen=True)
class Trained:
    run_dir: pathlib.Path
    export_path: pathlib.Path
    held_out_count: int  # examples the export warms up with
    data_cache: pathlib.Path  # CNN_SUITE_DATA while it trained: its generated data sets

    def keras_model(self):
        """The run's model.keras, loaded as the product loads it (the pipeline's layers first)."""
        from pipelines.core import runs

        return runs.load_model(runs.pipeline_from_record(runs.read_record(self.run_dir)), self.run_dir / "model.keras")


def _train(name, root):
    """Trains and exports `name`; the facts the tests read, as JSON."""
    import pipelines
    from pipelines.core import config as configs
    import cli

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_SUITE_DATA", str(root / "cache"))  # generated phantoms go here
        cls = pipelines.get(name)
        pipeline = cls(configs.override(cls.Config(), ["epochs=1", *TINY[name]]))
        run = cli.train_and_export(pipeline, run_dir=root / "runs" / name,
                                   export_dir=root / "saved_models", verbose=0)
    return {"run_dir": str(run.run_dir), "export_path": str(run.export_path), "held_out_count": len(run.held_out)}


@functools.cache
def trained():
    """{pipeline name: Trained}; every export lies in `<root>/<name>/1`. Each worker that asks
    trains the pipelines no other worker has claimed yet, then waits for the rest."""
    root = session_cache.folder("serving-exports")
    done = {name: root / f"{name}.json" for name in TINY}
    for wait in (False, True):
        for name, record in done.items():
            with session_cache.locked(root / f"{name}.lock", wait) as holding:
                if holding and not record.is_file():
                    record.write_text(json.dumps(_train(name, root)))
    facts = {name: json.loads(record.read_text()) for name, record in done.items()}
    return {name: Trained(pathlib.Path(f["run_dir"]), pathlib.Path(f["export_path"]), f["held_out_count"],
                          root / "cache") for name, f in facts.items()}


def saved_models_root():
    return next(iter(trained().values())).export_path.parent.parent



PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


def graph_ops(export_path):
    """The op types of every graph and function in a SavedModel (calls of its own library
    functions left out), read from saved_model.pb without loading it."""
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel.FromString((pathlib.Path(export_path) / "saved_model.pb").read_bytes())
    ops, functions = set(), set()
    for graph in model.meta_graphs:
        ops |= {node.op for node in graph.graph_def.node}
        for function in graph.graph_def.library.function:
            functions.add(function.signature.name)
            ops |= {node.op for node in function.node_def}
    return ops - functions


def xla_functions(export_path):
    """Functions of a SavedModel marked for XLA compilation (`jit_compile=True`)."""
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel.FromString((pathlib.Path(export_path) / "saved_model.pb").read_bytes())
    return [f.signature.name for graph in model.meta_graphs for f in graph.graph_def.library.function
            if f.attr["_XlaMustCompile"].b]


def assert_core_tensorflow_only(export_path):
    """TF Serving runs only registered C++ ops: no Python (tf.py_function) in an export, and no
    XLA-compiled function (its CPU JIT is off unless the server is started with it)."""
    from tensorflow.python.framework import op_def_registry

    ops = graph_ops(export_path)
    assert ops and not ops & PYTHON_OPS, sorted(ops & PYTHON_OPS)
    assert [op for op in ops if op_def_registry.get(op) is None] == []
    assert xla_functions(export_path) == []
