"""Two `cnn train --strategy multiworker` processes on 127.0.0.1 (TF_CONFIG, free ports): a worker
killed mid-run, the survivor ending with one line in bounded time, both restarted with --resume;
then identical weights, each epoch once in history.csv, the chief's export serving in a fresh
process, and test accuracy within noise of one process at the same global batch."""
import csv
import json
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.isolated import run_without_project
from tests.project import ROOT

CNN = [sys.executable, "-c", "import cli; cli.main()"]
EPOCHS = 4
SETTINGS = ["--epochs", str(EPOCHS), "--batch-size", "32", "--set", "filters=8,8,8", "--set", "dense_units=16",
            "--set", "learning_rate=0.01"]
WORKER_TIMEOUT = 20  # seconds: the survivor gives up on a lost worker after about this long


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _start_workers(root, phase, extra=()):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        log = open(root / f"{phase}-worker{index}.log", "w")
        processes.append(subprocess.Popen(
            [*CNN, "train", "digits", "--strategy", "multiworker", "--worker-timeout", str(WORKER_TIMEOUT),
             "--run-dir", str(root / "run"), "--export-dir", str(root / "exports"), *SETTINGS, *extra],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
    return processes


def _finished_epochs(run_dir):
    metadata = run_dir / "backup" / "training_metadata.json"
    try:
        return json.loads(metadata.read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("workers")
    with open(root / "single.log", "w") as log:  # the reference: one process, the same global batch
        single = subprocess.Popen([*CNN, "train", "digits", "--strategy", "default", "--run-dir", str(root / "single"),
                                   "--export-dir", "", *SETTINGS], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    lone_ports = _free_ports(2)  # a worker whose peer never comes
    with open(root / "lone.log", "w") as log:
        lone = subprocess.Popen(
            [*CNN, "train", "digits", "--strategy", "multiworker", "--worker-timeout", "5", "--run-dir",
             str(root / "lone")], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CONFIG": json.dumps(
                {"cluster": {"worker": [f"127.0.0.1:{port}" for port in lone_ports]},
                 "task": {"type": "worker", "index": 0}})})
    processes = _start_workers(root, "first")
    try:
        deadline = time.time() + 240
        while _finished_epochs(root / "run") < 1 and processes[0].poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert _finished_epochs(root / "run") >= 1 and processes[0].poll() is None, \
            (root / "first-worker0.log").read_text()[-3000:]
        processes[1].kill()  # worker 1 dies mid-run
        processes[1].wait()
        killed_at = time.time()
        survivor_code = processes[0].wait(timeout=WORKER_TIMEOUT + 100)
        survivor_seconds = time.time() - killed_at
        processes = _start_workers(root, "resumed", ["--resume"])
        codes = [process.wait(timeout=300) for process in processes]
        single_code = single.wait(timeout=300)
        lone_code = lone.wait(timeout=60)
    finally:
        for process in processes + [single, lone]:
            if process.poll() is None:
                process.kill()
                process.wait()
    logs = {name: (root / f"{name}.log").read_text()
            for name in ("first-worker0", "resumed-worker0", "resumed-worker1", "lone")}
    return {"root": root, "survivor_code": survivor_code, "survivor_seconds": survivor_seconds,
            "codes": codes, "single_code": single_code, "lone_code": lone_code, "logs": logs}


def test_a_lost_worker_ends_the_survivor_with_one_line(cluster):
    assert cluster["survivor_code"] == 2, cluster["logs"]["first-worker0"][-3000:]
    errors = [line for line in cluster["logs"]["first-worker0"].splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in cluster["logs"]["first-worker0"]
    assert errors[0].startswith("Error: --strategy multiworker: worker 0 lost contact")
    assert "--resume" in errors[0] and not re.search(r"\w+Error\b", errors[0])  # no exception class names
    assert cluster["survivor_seconds"] < WORKER_TIMEOUT + 90


def test_a_worker_that_cannot_reach_the_others_ends_with_one_line(cluster):
    log = cluster["logs"]["lone"]
    assert cluster["lone_code"] == -9, log[-3000:]  # killed by its watchdog: TensorFlow blocks in C++
    errors = [line for line in log.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in log, log[-3000:]
    assert errors[0].startswith("Error: --strategy multiworker: worker 0 could not reach the other workers "
                                "(127.0.0.1:") and "within 5 s" in errors[0]
    assert not (cluster["root"] / "lone").exists()  # nothing written


def test_resumed_workers_finish_with_identical_weights(cluster):
    assert cluster["codes"] == [0, 0], cluster["logs"]["resumed-worker0"][-3000:] + cluster["logs"]["resumed-worker1"][-3000:]
    digests = [line.split("weights sha256 ")[1].split()[0] for name in ("resumed-worker0", "resumed-worker1")
               for line in cluster["logs"][name].splitlines() if "weights sha256 " in line]
    assert len(digests) == 2 and digests[0] == digests[1]
    assert "worker finished" in cluster["logs"]["resumed-worker1"]


def test_resume_continues_and_history_lists_each_epoch_once(cluster):
    run_dir = cluster["root"] / "run"
    with open(run_dir / "history.csv", newline="") as stream:
        epochs = [int(row["epoch"]) for row in csv.DictReader(stream)]
    assert epochs == list(range(EPOCHS))
    first = cluster["logs"]["first-worker0"]
    resumed = cluster["logs"]["resumed-worker0"]
    assert f"Epoch 1/{EPOCHS}" in first and f"Epoch 1/{EPOCHS}" not in resumed  # it skipped finished epochs
    assert f"Epoch {EPOCHS}/{EPOCHS}" in resumed
    record = json.loads((run_dir / "config.json").read_text())
    assert (record["strategy"], record["replicas"], record["workers"]) == ("multiworker", 2, 2)
    assert (run_dir / "model.keras").is_file() and not (run_dir / "backup").exists()
    assert sorted(p.name for p in (cluster["root"] / "exports" / "digits").iterdir()) == ["1"]  # chief only


def test_the_chiefs_export_serves_in_a_fresh_process(cluster):
    export = cluster["root"] / "exports" / "digits" / "1"
    script = f"""
import json, numpy as np, tensorflow as tf
serve = tf.saved_model.load({str(export)!r}).signatures["serving_default"]
out = serve(image=tf.constant(np.full((2, 8, 8, 1), 128, np.float32)))
print("SERVED", json.dumps({{"outputs": sorted(out), "probabilities": out["probabilities"].numpy().tolist()}}))
"""
    result = run_without_project(script, cwd=cluster["root"], timeout=120)
    served = [line for line in result.stdout.splitlines() if line.startswith("SERVED ")]
    assert served, result.stderr[-2000:]
    answer = json.loads(served[-1].removeprefix("SERVED "))
    assert answer["outputs"] == ["class_id", "label", "probabilities"]
    probabilities = np.array(answer["probabilities"])
    assert probabilities.shape == (2, 10) and probabilities.min() >= 0
    # A float32 softmax's 10 entries, each rounded to within 2^-24 and summed with 9 rounded additions:
    # the sum is 1 within 10 float32 epsilons (1.2e-6), in any kernel order (oneDNN or not).
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=0, atol=10 * np.finfo(np.float32).eps)


def test_accuracy_within_noise_of_one_process(cluster):
    """The same global batch on one process (run alongside the workers): 450 test digits."""
    assert cluster["single_code"] == 0
    single = json.loads((cluster["root"] / "single" / "metrics.json").read_text())["accuracy"]
    workers = json.loads((cluster["root"] / "run" / "metrics.json").read_text())["accuracy"]
    assert single > 0.6  # it learned: the comparison means something
    assert abs(workers - single) < 0.1, (workers, single)  # 4 short epochs: a few points either way
