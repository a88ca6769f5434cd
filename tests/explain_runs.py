"""Runs for the explanation, visualisation and report tests, made once per test process (like
tests/serving_exports.py): one trained digits run (with its export), good enough for the
deletion test, and untrained run folders of the other domains: drawing a map in a domain's
form needs the model's shapes and layers, not a trained model."""
import atexit
import functools
import pathlib
import shutil
import tempfile

from factories import make_pipeline, train_bundled

DIGITS = ["epochs=4", "filters=16,32,32", "dense_units=32"]  # 16x16 inputs; ~80% on bundled digits
UNTRAINED = {
    "audio": (["clip_seconds=0.25", "width=8", "n_mels=16"], ["0", "1", "2"]),
    "text": (["sequence_length=16", "filters=8", "embedding_dim=16", "max_tokens=500"], ["negative", "positive"]),
    "volumes": (["shape=16,16,16", "filters=4,8"], ["healthy", "lesion"]),
    "segment": (["shape=8,8,8", "base_filters=4", "depth=2"], ["background", "organ", "lesion"]),
}
TEXTS = ["the film was not great but the acting was wonderful", "a dull and boring plot", "great fun"]


@functools.cache
def root():
    folder = pathlib.Path(tempfile.mkdtemp(prefix="cnn-explain-tests-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@functools.cache
def trained_digits():
    """(pipeline, finished Run with its export) of digits on the bundled data."""
    pipeline, run, _ = train_bundled("digits", root() / "digits", DIGITS)
    return pipeline, run


@functools.cache
def untrained_run(name, *extra):
    """(pipeline, run folder, model) of `name` (`extra` settings over the defaults here):
    model.keras with initial weights and its record."""
    import numpy as np
    import tensorflow as tf

    from pipelines.core import runs
    from pipelines.engine import checkpoints
    from pipelines.core.config import to_dict

    settings, class_names = UNTRAINED[name]
    pipeline = make_pipeline(name, *settings, *extra)
    if name == "text":
        pipeline.adapt(tf.data.Dataset.from_tensor_slices((TEXTS, np.zeros(len(TEXTS), np.int64))))
    model = pipeline.build_model(len(class_names))
    run_dir = root() / "-".join(["untrained", name, *extra]).replace("=", "_").replace(",", "_")
    run_dir.mkdir()
    runs.write_record(run_dir, {"pipeline": name, "config": to_dict(pipeline.config), "data": "bundled",
                                "test_data": None, "data_dir": None, "class_names": class_names,
                                "splits": {}})
    checkpoints.save_model(model, run_dir / runs.MODEL)
    return pipeline, run_dir, model


@functools.cache
def exported(name):
    """The export of `untrained_run(name)`."""
    from serving import export

    pipeline, _, model = untrained_run(name)
    return export.export(model, pipeline, UNTRAINED[name][1], root() / "exports")


@functools.cache
def scans():
    """({"volumes": a phantom scan, "segment": a phantom image}: NIfTI files with their affines)."""
    from datasets.synthetic import phantoms

    manifest = phantoms.write_classification(root() / "phantoms", count=1)
    pairs = phantoms.write_segmentation(root() / "phantoms", count=1)
    return {"volumes": next(manifest.parent.rglob("*.nii.gz")),
            "segment": next((pairs / "imagesTr").glob("*.nii.gz"))}
