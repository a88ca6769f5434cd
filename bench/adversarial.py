"""Adversarial robustness benchmarks: MNIST clean and PGD-20 L-inf robust accuracy at 25.5 and
76.5 (0.1 and 0.3 of 0..255) for standard and adversarial training of the digits default network
(lecun1989, the `mnist` recipe's settings); robust accuracy curves of the FSDD audio and CIFAR-10
subset default models.

`python -m bench adversarial [--quick] [--mnist-only] [--only=KEY,...] [--work=DIR]`: MNIST
trains 2 epochs (standard), the `mnist-robust` recipe (10 epochs of PGD-5 training on Wong et
al.'s schedule) and `mnist-robust-fast` (the same with fast FGSM), then the earlier 5-epoch rows
(fast FGSM on the default schedule; fast FGSM and PGD-2 with a 1-epoch epsilon ramp and a wider,
unregularised network), and attacks the first 2,000 test images; --quick 1-2 epochs and 500
images. `--only` picks MNIST rows by key (`KEYS`) and the curves by pipeline (audio, objects).
`--work=DIR` keeps the runs and attacks there (and reuses finished ones).
"""
import datetime
import json
import os
import pathlib
import platform
import sys
import tempfile
import time

DATA = pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
MNIST_EPSILONS = (25.5, 76.5)
# Wong et al. 2020 on MNIST: FGSM from a uniform random start, step 1.25 epsilon, epsilon 0.3.
ADVERSARIAL = ("adversarial=fgsm", "adversarial_epsilon=76.5", "adversarial_fraction=1.0")


def _log(message):
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _pipeline(name, settings):
    import pipelines
    from pipelines.core import config as configs

    cls = pipelines.get(name)
    return cls(configs.override(cls.Config(), list(settings)))


def train_run(name, settings, data, run_dir):
    """(metrics, seconds) of training `name` with `settings` on `data` into `run_dir`; a finished
    run already there is reused (its recorded time)."""
    import cli

    run_dir = pathlib.Path(run_dir)
    timing = run_dir / "bench_seconds.txt"
    if (run_dir / "metrics.json").is_file() and timing.is_file():
        return json.loads((run_dir / "metrics.json").read_text()), float(timing.read_text())
    _log(f"training {name} {' '.join(settings)} -> {run_dir}")
    start = time.perf_counter()
    run = cli.train_and_export(_pipeline(name, settings), data=data, run_dir=run_dir, export_dir=None, verbose=2)
    seconds = time.perf_counter() - start
    timing.write_text(f"{seconds:.1f}")
    _log(f"trained in {seconds / 60:.1f} min: {run.metrics.get('accuracy')}")
    return run.metrics, seconds


def robust(run_dir, data, epsilons, steps, max_examples, out_dir):
    """The `cnn attack` result of PGD-`steps` L-inf on the run's model."""
    from analysis import attacks

    saved = pathlib.Path(out_dir) / "bench_result.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    _log(f"PGD-{steps} at {epsilons} on {max_examples} examples of {run_dir}")
    start = time.perf_counter()
    result = attacks.attack(run_dir, data, epsilons, method="pgd", steps=steps, out_dir=out_dir,
                           max_examples=max_examples, batch_size=250)
    result["seconds"] = time.perf_counter() - start
    _log(f"attack done in {result['seconds'] / 60:.1f} min: {result['robust']}")
    saved.write_text(json.dumps(result, indent=2))
    return result


KEYS = ("standard", "adversarial", "fast", "fgsm-5", "ramp-fgsm", "ramp-pgd2")


def mnist_rows(work, quick, only=KEYS):
    from pipelines.core import recipes

    mnist = str(DATA / "mnist")
    base = ("image_size=28", "batch_size=128")  # the `mnist` recipe's, with fewer epochs (2 shared cores)
    shorter = ("epochs=2", "learning_rate_warmup_epochs=1") if quick else ()  # both ramps within 2 epochs
    robust_recipe = recipes.get("mnist-robust", "digits").settings + shorter  # PGD-5, Wong et al.'s schedule
    robust_recipe += ("adversarial_warmup_epochs=1",) if quick else ()
    fast_recipe = recipes.get("mnist-robust-fast", "digits").settings + shorter  # fast FGSM, the same
    five = base + ("epochs=2" if quick else "epochs=5",) + ADVERSARIAL  # the first recipe: 5 epochs, defaults
    ramp = five + ("dropout=0", "augment_shift=0", "dense_units=1024", "adversarial_warmup_epochs=1")
    count = 500 if quick else 2000
    rows = []
    for key, title, settings in (
            ("standard", "standard", base + ("epochs=1" if quick else "epochs=2",)),
            ("adversarial", "PGD-5 training on Wong et al.'s schedule, epsilon ramped up over 2 epochs, guarded "
                            "(the `mnist-robust` recipe)", robust_recipe),
            ("fast", "fast FGSM on Wong et al.'s schedule (the `mnist-robust-fast` recipe)", fast_recipe),
            ("fgsm-5", "fast FGSM, 5 epochs of the default schedule", five),
            ("ramp-fgsm", "fast FGSM, epsilon ramped up over epoch 1, dense 1024, no dropout or shifts", ramp),
            ("ramp-pgd2", "the same with PGD-2 training", ramp + ("adversarial=pgd", "adversarial_steps=2"))):
        if key not in only:
            continue
        metrics, seconds = train_run("digits", settings, mnist, work / f"mnist-{key}")
        result = robust(work / f"mnist-{key}", mnist, MNIST_EPSILONS, 20, count, work / f"mnist-{key}-attack")
        by_eps = {r["epsilon"]: r["accuracy"] for r in result["robust"]}
        rows.append(f"| {title}: `{' '.join(settings)}` | {metrics['accuracy']:.2%} (10,000) | "
                    f"{result['clean']:.2%} / {by_eps[25.5]:.2%} / {by_eps[76.5]:.2%} (first {count:,}) | "
                    f"{seconds / 60:.1f} min (attack {result['seconds'] / 60:.1f} min) |")
    return rows


def curve_row(name, data, settings, epsilons, work, count):
    """A robust accuracy curve (PGD-10 L-inf) of a pipeline's default model trained on `data`."""
    metrics, seconds = train_run(name, settings, data, work / f"{name}-standard")
    result = robust(work / f"{name}-standard", data, epsilons, 10, count, work / f"{name}-attack")
    points = ", ".join(f"{r['epsilon']:g}: {r['accuracy']:.1%}" for r in result["robust"])
    return (f"| {name} `{' '.join(settings) or 'defaults'}` on {pathlib.Path(data).name} | "
            f"{result['clean']:.1%} | {points} | {seconds / 60:.1f} min |")


def run(argv):
    quick = "--quick" in argv
    work_arg = next((a.split("=", 1)[1] for a in argv if a.startswith("--work=")), None)
    work = pathlib.Path(work_arg or tempfile.mkdtemp(prefix="bench-adversarial-"))
    lines = ["## adversarial robustness\n",
             f"Measured {datetime.date.today()} on {platform.machine()} CPU, {os.cpu_count()} cores shared "
             "with other work, `python -m bench adversarial` (bench/adversarial.py). Epsilon in pixel "
             "units 0..255; PGD-20 L-inf, step 2.5 eps / 20, no random start (`cnn attack --method pgd "
             "--steps 20`). Target: >= 98.5% clean, >= 88% PGD-20 at 76.5 (Wong et al. 2020: 97.5% / 88.8%; "
             "Madry et al. 2018: 98.8% / 89.3%).\n",
             "| MNIST, digits lecun1989 28x28 | clean test accuracy | attacked subset: clean / PGD-20 @25.5 / "
             "PGD-20 @76.5 | training time |", "|---|---|---|---|"]
    only = next((a.split("=", 1)[1].split(",") for a in argv if a.startswith("--only=")), None)
    if (DATA / "mnist").is_dir():
        lines += mnist_rows(work, quick, *([only] if only else []))
    if "--mnist-only" not in argv:
        lines += ["", "| pipeline (default model) | clean | PGD-10 L-inf robust accuracy by epsilon | training |",
                  "|---|---|---|---|"]
        from pipelines.core import recipes

        # the `fsdd` recipe at 10 epochs (not 40); test split: takes 5-9
        if (DATA / "fsdd").is_dir() and (only is None or "audio" in only):
            lines.append(curve_row("audio", str(DATA / "fsdd" / "recordings"),
                                   recipes.get("fsdd", "audio").settings + ("epochs=10",),
                                   (0.0003, 0.001, 0.003, 0.01), work, 300))
        # the `cifar10-resnet` recipe at 10 epochs (not 40: 47 min here)
        if (DATA / "cifar10").is_dir() and (only is None or "objects" in only):
            lines.append(curve_row("objects", str(DATA / "cifar10"),
                                   recipes.get("cifar10-resnet", "objects").settings + ("epochs=10",),
                                   (1.0, 2.0, 4.0, 8.0), work, 500))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run(sys.argv[1:]))
