"""objects benchmarks: test accuracy and training time on the generated shapes and on
../shared/data/cifar10 (10k train / 2k test JPEG).

`python -m bench objects [--quick]`; --quick skips CIFAR-10 (the longest part).
"""
import datetime
import os
import pathlib
import platform
import tempfile
import time

CIFAR10 = pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10"


def _train(assignments, data="bundled"):
    import pipelines
    from pipelines.core import config as configs
    from pipelines.core import training

    cls = pipelines.get("objects")
    pipeline = cls(configs.override(cls.Config(), assignments))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        result = training.run(pipeline, data=data, run_dir=pathlib.Path(folder) / "run",
                              export_dir=None, verbose=0)
    return result.metrics, time.perf_counter() - start, pipeline.config


def run(argv):
    lines = [f"## objects (pipelines/objects.py)\n",
             f"Measured {datetime.date.today()} on {platform.machine()} CPU, {os.cpu_count()} cores "
             f"(shared with other work), `python -m bench objects`.\n",
             "| data | network, setting | test accuracy | training time |", "|---|---|---|---|"]
    for network in ("alexnet", "resnet"):
        metrics, seconds, config = _train([f"network={network}", "epochs=15"])
        lines.append(f"| bundled shapes (8 classes, 2,400 / 800) | {network}, {config.epochs} epochs | "
                     f"{metrics['accuracy']:.2%} | {seconds / 60:.1f} min |")
    if "--quick" not in argv and CIFAR10.is_dir():
        metrics, seconds, config = _train(["network=resnet", "epochs=40", "learning_rate=0.05"], data=str(CIFAR10))
        lines.append(f"| ../shared/data/cifar10 (10,000 / 2,000 JPEG) | resnet, SGD lr {config.learning_rate} "
                     f"cosine, {config.epochs} epochs | "
                     f"{metrics['accuracy']:.2%} (aim > 80%) | {seconds / 60:.1f} min |")
    return "\n".join(lines) + "\n"
