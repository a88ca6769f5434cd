"""Distributed training benchmark: training images/s of one process against two worker processes
(`--strategy multiworker` over 127.0.0.1) on this machine.

`python -m bench distribute [--quick]`. Trains digits (bundled, default network, global batch
64) as `cnn train` subprocesses: one process with Keras fit (`--strategy default`), one process
through our multiworker loop (a one-worker TF_CONFIG: the loop's own cost), and two workers of
one replica each. The speed is the median of the per-epoch ms/step lines after the first epoch
(which traces the step), as global batch / step time. Two workers on one host share its cores
and add a gradient all-reduce over gRPC per step: no speed-up is expected here; the point of
the numbers is the overhead, and docs/DISTRIBUTED.md works out when more machines pay off.
"""
import datetime
import json
import os
import pathlib
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile

BATCH = 64


def _ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _train(folder, name, epochs, workers=0):
    """ms/step of each epoch after the first, for `workers` multiworker tasks (0: --strategy default)."""
    cnn = [sys.executable, "-c", "import cli; cli.main()"]
    common = ["train", "digits", "--epochs", str(epochs), "--batch-size", str(BATCH), "--export-dir", ""]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _ports(max(workers, 1))]}
    processes = []
    for index in range(max(workers, 1)):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        strategy = ["--strategy", "default"]
        if workers:
            env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            strategy = ["--strategy", "multiworker"]
        processes.append(subprocess.Popen(
            [*cnn, *common, *strategy, "--run-dir", str(folder / f"{name}-{index}")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
    try:
        output = processes[0].communicate(timeout=3600)[0]
        for process in processes[1:]:
            process.wait(timeout=600)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    if any(process.returncode for process in processes):
        raise RuntimeError(f"{name}: a training process failed:\n{output[-2000:]}")
    steps = re.findall(r"(\d+(?:\.\d+)?)(ms|s)/step", output.replace(" ms/step", "ms/step"))
    return [float(value) * (1 if unit == "ms" else 1000) for value, unit in steps][1:]  # ms


def run(argv):
    quick = "--quick" in argv
    epochs = 3 if quick else 5
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="cnn-bench-distribute-") as folder:
        folder = pathlib.Path(folder)
        for label, name, workers in (("1 process, Keras fit (`--strategy default`)", "fit", 0),
                                     ("1 process, our loop (`multiworker`, 1 worker)", "loop1", 1),
                                     ("2 worker processes (`multiworker`, 2 x 1 replica)", "loop2", 2)):
            times = _train(folder, name, epochs, workers)
            step = statistics.median(times)
            rows.append((label, step, BATCH / step * 1000))
    load_after = os.getloadavg()
    base = rows[0][2]
    lines = [
        "## distributed (pipelines/engine/distribute.py, loop.py)",
        "",
        f"`python -m bench distribute{' --quick' if quick else ''}`, {datetime.date.today()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
        f"{load_before[0]:.1f} before and {load_after[0]:.1f} after (other jobs share the cores). "
        f"digits, bundled (1,347 training images), default network, global batch {BATCH}, "
        f"median of epochs 2-{epochs}:",
        "",
        "| setup | ms/step | images/s | vs 1 process |",
        "|---|---|---|---|",
        *[f"| {label} | {step:.0f} | {speed:.0f} | {speed / base:.2f}x |" for label, step, speed in rows],
        "",
        "Two workers on one 2-core host give no speed-up: they split the same cores, and each step adds "
        "an all-reduce of every gradient over gRPC. Scaling on paper is in docs/DISTRIBUTED.md.",
        "",
    ]
    return "\n".join(lines)
