"""Every pipeline trained once per test process with tiny settings (1 epoch), exported into one
folder of models, shared by the serving tests (tests/test_serving*.py)."""
import atexit
import functools
import pathlib
import shutil
import tempfile

import pytest

TINY = {
    "digits": ["image_size=8", "filters=8,8,8", "dense_units=16"],
    "objects": ["image_size=16", "width=4", "bundled_per_class=6"],
    "audio": ["bundled_per_class=6", "clip_seconds=0.25", "width=8", "n_mels=16"],
    "text": ["bundled_size=200", "sequence_length=16", "filters=8", "embedding_dim=16", "max_tokens=500"],
    "volumes": ["shape=16,16,16", "filters=4,8", "bundled_count=8", "batch_size=4", "max_shift=1"],
    "segment": ["shape=16,16,16", "base_filters=4", "depth=2", "bundled_count=6", "batch_size=4"],
}


@functools.cache
def trained():
    """{pipeline name: training Result}; every export lies in `<root>/<name>/1`."""
    import pipelines
    from pipelines.core import config as configs
    import cli

    root = pathlib.Path(tempfile.mkdtemp(prefix="cnn-serving-tests-"))
    atexit.register(shutil.rmtree, root, True)
    results = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_SUITE_DATA", str(root / "cache"))  # generated phantoms go here
        for name, settings in TINY.items():
            cls = pipelines.get(name)
            pipeline = cls(configs.override(cls.Config(), ["epochs=1", *settings]))
            results[name] = cli.train_and_export(pipeline, run_dir=root / "runs" / name,
                                         export_dir=root / "saved_models", verbose=0)
    return results


def saved_models_root():
    return next(iter(trained().values())).export_path.parent.parent

