"""audio benchmark: FSDD held-out accuracy of the audio pipeline (target >= 99.5%).

FSDD's official train split (takes 5-49, ../shared/data/fsdd) with takes 5-9 held out (300
clips, never seen in training nor used for model selection), files read through the pipeline's
flat-folder source with `label_pattern`, at FSDD's native 8 kHz (32 ms windows, 10 ms hop, 64
Slaney mel bands), conv1d network. `python -m bench audio [--quick]`; --quick runs the bundled
DTMF task only.
"""
import datetime
import os
import pathlib
import platform
import tempfile
import time

FSDD = pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fsdd" / "recordings"
FSDD_SETTINGS = [r"label_pattern=^(\d+)_", r"test_pattern=_[5-9]\.wav$", "sample_rate=8000",
                 "n_fft=256", "hop_length=80", "epochs=40", "time_mask_frames=5", "freq_mask_bins=6"]


def _train(assignments, data):
    import pipelines
    from pipelines import config as configs
    from pipelines import training

    cls = pipelines.get("audio")
    pipeline = cls(configs.override(cls.Config(), assignments))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        result = training.run(pipeline, data=data, run_dir=pathlib.Path(folder) / "run",
                              export_dir=None, verbose=0)
    return result.metrics, time.perf_counter() - start


def _errors(metrics):
    names, matrix = metrics["class_names"], metrics["confusion_matrix"]
    return ", ".join(f"{names[i]}->{names[j]} x{matrix[i][j]}" for i in range(len(names))
                     for j in range(len(names)) if i != j and matrix[i][j]) or "none"


def run(argv):
    lines = ["## audio (pipelines/audio.py)\n",
             f"Measured {datetime.date.today()} on {platform.machine()} CPU, {os.cpu_count()} cores "
             "(shared with other work), TensorFlow 2.21 CPU build, `python -m bench audio`.\n",
             "| measurement | setting | result | target |", "|---|---|---|---|"]
    metrics, seconds = _train(["epochs=20"], "bundled")
    lines.append(f"| bundled DTMF test accuracy (12 keys, {metrics['examples']} clips) | conv1d, 16 kHz, 1 s, 20 epochs | "
                 f"{metrics['accuracy']:.2%} ({seconds:.0f} s) | (no target; chance 8.3%) |")
    if "--quick" not in argv:
        if FSDD.is_dir():
            metrics, seconds = _train(FSDD_SETTINGS, str(FSDD))
            lines.append(f"| FSDD held-out accuracy (takes 5-9, 300 clips) | conv1d, 8 kHz, 1 s, "
                         f"40 epochs, seed 0 | {metrics['accuracy']:.2%} ({seconds / 60:.1f} min; "
                         f"errors: {_errors(metrics)}) | >= 99.5% |")
        else:
            lines.append("| FSDD held-out accuracy | ../shared/data/fsdd not present | not run | >= 99.5% |")
    return "\n".join(lines) + "\n"
