"""objects benchmarks: test accuracy and training time of the recipes `shapes-alexnet` and
`shapes-resnet` (generated shapes) and `cifar10-resnet` (../shared/data/cifar10, 10k train /
2k test JPEG).

`python -m bench objects [--quick]`; --quick skips CIFAR-10 (the longest part).
"""
import datetime
import os
import pathlib
import platform
import tempfile
import time

CIFAR10 = pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10"


def _train(recipe, data="bundled"):
    import pipelines
    from pipelines.core import config as configs
    from pipelines.core import recipes
    import cli

    cls = pipelines.get("objects")
    pipeline = cls(configs.override(cls.Config(), recipes.get(recipe, "objects").settings))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        result = cli.train_and_export(pipeline, data=data, run_dir=pathlib.Path(folder) / "run",
                                      export_dir=None, verbose=0)
    return result.metrics, time.perf_counter() - start, pipeline.config


def run(argv):
    lines = ["## objects (pipelines/images/objects.py)\n",
             f"Measured {datetime.date.today()} on {platform.machine()} CPU, {os.cpu_count()} cores "
             f"(shared with other work), `python -m bench objects`.\n",
             "| data | network, setting | test accuracy | training time |", "|---|---|---|---|"]
    for recipe in ("shapes-alexnet", "shapes-resnet"):
        metrics, seconds, config = _train(recipe)
        lines.append(f"| bundled shapes (8 classes, 2,400 / 800) | `{recipe}`: {config.network}, SGD lr "
                     f"{config.learning_rate} cosine, {config.epochs} epochs | "
                     f"{metrics['accuracy']:.2%} | {seconds / 60:.1f} min |")
    if "--quick" not in argv and CIFAR10.is_dir():
        metrics, seconds, config = _train("cifar10-resnet", data=str(CIFAR10))
        lines.append(f"| ../shared/data/cifar10 (10,000 / 2,000 JPEG) | `cifar10-resnet`: resnet, SGD lr {config.learning_rate} "
                     f"cosine, {config.epochs} epochs | "
                     f"{metrics['accuracy']:.2%} (aim > 80%) | {seconds / 60:.1f} min |")
    return "\n".join(lines) + "\n"
