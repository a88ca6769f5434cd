"""text benchmark: SST-2 test accuracy of the text pipeline (target >= 85%).

../shared/data/sst2: trained on the 60,614 training phrases, validated on the 6,735 dev phrases,
tested on the 872 test sentences (= GLUE dev). Kim (2014) CNN with randomly initialised
embeddings (no pre-trained vectors offline). `python -m bench text [--quick]`; --quick runs the
bundled reviews only.
"""
import datetime
import os
import pathlib
import platform
import tempfile
import time

SST2 = pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sst2"
SST2_SETTINGS = ["text_column=sentence", "epochs=3"]


def _train(assignments, data):
    import pipelines
    from pipelines import config as configs
    from pipelines import training

    cls = pipelines.get("text")
    pipeline = cls(configs.override(cls.Config(), assignments))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        result = training.run(pipeline, data=data, run_dir=pathlib.Path(folder) / "run",
                              export_dir=None, verbose=0)
    return result.metrics, time.perf_counter() - start, pipeline.config


def run(argv):
    lines = ["## text (pipelines/text.py)\n",
             f"Measured {datetime.date.today()} on {platform.machine()} CPU, {os.cpu_count()} cores "
             "(shared with other work), TensorFlow 2.21 CPU build, `python -m bench text`.\n",
             "| measurement | setting | result | target |", "|---|---|---|---|"]
    metrics, seconds, config = _train([], "bundled")
    lines.append(f"| bundled reviews test accuracy ({metrics['examples']:,}, 3% label noise) | kim, {config.epochs} epochs | "
                 f"{metrics['accuracy']:.2%} ({seconds:.0f} s) | (no target; ceiling ~97%) |")
    if "--quick" not in argv:
        if SST2.is_dir():
            metrics, seconds, config = _train(SST2_SETTINGS, str(SST2))
            lines.append(f"| SST-2 test accuracy (872 sentences = GLUE dev) | kim (CNN-rand), "
                         f"{config.embedding_dim}-d, widths {','.join(map(str, config.kernel_sizes))} x "
                         f"{config.filters}, {config.epochs} epochs, seed 0 | {metrics['accuracy']:.2%} "
                         f"({seconds / 60:.1f} min) | >= 85% |")
        else:
            lines.append("| SST-2 test accuracy | ../shared/data/sst2 not present | not run | >= 85% |")
    return "\n".join(lines) + "\n"
