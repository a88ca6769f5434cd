"""Which `tf.distribute` strategy a run trains under, and what follows from it: the replica
count, who is the chief, where each worker writes, how the data is sharded.

    --strategy default      one device (TensorFlow's default strategy): Keras fit
    --strategy mirrored     MirroredStrategy over this host's GPUs (without GPUs: its logical
                            CPU devices): Keras fit, which works under it
    --strategy multiworker  MultiWorkerMirroredStrategy from TF_CONFIG: our own training loop
                            (pipelines/engine/loop.py), because Keras 3 `fit` fails under it
                            (keras #20585)
    --strategy auto         mirrored with two or more GPUs, else default

`--batch-size` is the GLOBAL batch: each of the R replicas computes batch_size / R examples
per step and the gradients are summed, so a step equals the single-device step on the same
batch, and the learning rate needs no change. docs/DISTRIBUTED.md has the whole story.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import sys
import tempfile

STRATEGIES = ("auto", "default", "mirrored", "multiworker")
DEFAULT_WORKER_TIMEOUT = 300  # seconds: joining the cluster, and any one collective operation
_MULTIWORKER = None  # TensorFlow allows one MultiWorkerMirroredStrategy per process
JIT_REFUSED = ("--jit: XLA cannot compile a training step that spans replicas (--strategy {kind}, {replicas} "
               "replicas; keras #18145, #20763); drop --jit or use --strategy default")


@dataclasses.dataclass
class Setup:
    """A chosen strategy: `kind` is what `--strategy` resolved to (default, mirrored,
    multiworker); `replicas` counts every replica of every worker."""

    kind: str
    strategy: object
    replicas: int = 1
    workers: int = 1
    worker_index: int = 0
    is_chief: bool = True

    def record(self):
        """What config.json records about the strategy."""
        return {"strategy": self.kind, "replicas": self.replicas, "workers": self.workers}

    @property
    def multi_replica(self):
        return self.replicas > 1

    def scope(self):
        return self.strategy.scope() if self.kind != "default" else contextlib.nullcontext()


# ------------------------------------------------------------------ TF_CONFIG
def read_tf_config(environ=None):
    """The TF_CONFIG of this process, checked: {"cluster": {"worker": ["host:port", ...],
    optional "chief": [one]}, "task": {"type": "worker"|"chief", "index": i}}. A mistake is a
    one-line ValueError naming TF_CONFIG."""
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not text.strip():
        raise ValueError("--strategy multiworker: TF_CONFIG is not set (it names the cluster and this "
                         "worker's task; see docs/DISTRIBUTED.md)")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG: not valid JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise ValueError('TF_CONFIG: expected {"cluster": {...}, "task": {"type": ..., "index": ...}}')
    cluster, task = config["cluster"], config.get("task")
    for job, addresses in cluster.items():
        if job not in ("chief", "worker"):
            raise ValueError(f"TF_CONFIG: cluster job '{job}' is not supported (only chief and worker)")
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses)):
            raise ValueError(f"TF_CONFIG: cluster.{job} must be a list of host:port addresses")
    if len(cluster.get("chief", ())) > 1:
        raise ValueError("TF_CONFIG: cluster.chief has more than one address")
    if "worker" not in cluster and "chief" not in cluster:
        raise ValueError("TF_CONFIG: the cluster has no worker")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ValueError(f"TF_CONFIG: task.type must be one of the cluster's jobs ({', '.join(cluster)})")
    index = task.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[task["type"]]):
        raise ValueError(f"TF_CONFIG: task.index {index!r} is out of range for "
                         f"{len(cluster[task['type']])} {task['type']} address(es)")
    addresses = cluster.get("chief", []) + cluster.get("worker", [])
    if len(set(addresses)) != len(addresses):
        raise ValueError("TF_CONFIG: two tasks share one address")
    return config


def role(tf_config):
    """(number of workers, this worker's index, is chief) of a checked TF_CONFIG; the chief is
    task `chief`, or worker 0 when the cluster has no chief (TensorFlow's convention)."""
    cluster, task = tf_config["cluster"], tf_config["task"]
    has_chief = "chief" in cluster
    workers = len(cluster.get("worker", ())) + has_chief
    index = task.get("index", 0) + (has_chief if task["type"] == "worker" else 0)
    return workers, index, index == 0


def is_chief_process(strategy_name, environ=None):
    """Whether this process writes the run files (False only for a non-chief multiworker task)."""
    if strategy_name != "multiworker":
        return True
    return role(read_tf_config(environ))[2]


# ------------------------------------------------------------------ strategies
def choose(name, jit=False, worker_timeout=DEFAULT_WORKER_TIMEOUT):
    """The `Setup` for `--strategy name`; refuses what cannot run (--jit with several replicas)."""
    if name not in STRATEGIES:
        raise ValueError(f"--strategy {name}: expected one of {', '.join(STRATEGIES)}")
    if name == "multiworker":
        tf_config = read_tf_config()  # checked before TensorFlow starts
        if jit:
            raise ValueError(JIT_REFUSED.format(kind=name, replicas="several"))
        return _multiworker(tf_config, worker_timeout)
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if name == "default" or (name == "auto" and len(gpus) < 2):
        setup = Setup("default", tf.distribute.get_strategy())
    else:
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
        setup = Setup("mirrored", strategy, strategy.num_replicas_in_sync)
    if jit and setup.multi_replica:
        raise ValueError(JIT_REFUSED.format(kind=setup.kind, replicas=setup.replicas))
    return setup


def _multiworker(tf_config, timeout):
    """MultiWorkerMirroredStrategy for `tf_config`, created within `timeout` seconds (TensorFlow
    itself would wait forever for a worker that never comes); every collective operation is
    bounded by the same timeout, and TensorFlow's health checks abort collectives when a peer
    dies, so a lost worker ends training with an error, not a hang."""
    import tensorflow as tf

    global _MULTIWORKER
    workers, index, is_chief = role(tf_config)
    if _MULTIWORKER is None:
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
        peers = ", ".join(tf_config["cluster"].get("chief", []) + tf_config["cluster"].get("worker", []))
        with deadline(timeout, f"--strategy multiworker: worker {index} could not reach the other workers "
                               f"({peers}) within {timeout:g} s; start every worker of TF_CONFIG, check "
                               "the addresses and firewalls, or raise --worker-timeout"):
            try:
                _MULTIWORKER = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
            except RuntimeError as error:  # "Collective ops must be configured at program startup"
                raise ValueError("--strategy multiworker: choose it (pipelines.engine.distribute.choose) before "
                                 f"TensorFlow initialises its devices ({error})") from None
    strategy = _MULTIWORKER
    return Setup("multiworker", strategy, strategy.num_replicas_in_sync, workers, index, is_chief)


# The watchdog of `deadline`: a separate process, because the call it guards blocks in C++
# while holding Python's lock, so no thread of the guarded process could run.
WATCHDOG = """
import os, select, signal, sys
parent, seconds, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
if not select.select([sys.stdin], [], [], seconds)[0]:  # no word from the parent in time
    sys.stderr.write("Error: " + message + "\\n")
    sys.stderr.flush()
    os.kill(parent, signal.SIGKILL)
"""


@contextlib.contextmanager
def deadline(seconds, message):
    """Run the block, or end the process after `seconds` with `message` on one line (`Error: ...`,
    killed: exit status 137 in a shell): joining a cluster whose peers never answer blocks
    forever in TensorFlow's C++ code otherwise."""
    import subprocess

    sys.stderr.flush()
    watchdog = subprocess.Popen([sys.executable, "-c", WATCHDOG, str(os.getpid()), str(seconds), message],
                                stdin=subprocess.PIPE)
    try:
        yield
    finally:
        watchdog.stdin.close()  # the watchdog wakes up and leaves
        watchdog.wait()


def check_batch(setup, batch_size):
    """The per-replica batch of a global `batch_size`; a ValueError unless replicas divide it."""
    if batch_size % setup.replicas:
        raise ValueError(f"--batch-size {batch_size} is the global batch: it must be a multiple of the "
                         f"{setup.replicas} replicas of --strategy {setup.kind}")
    return batch_size // setup.replicas


def lost_worker_errors():
    """TensorFlow's errors when a peer dies or a collective times out."""
    import tensorflow as tf

    return (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
            tf.errors.AbortedError, tf.errors.FailedPreconditionError)


@contextlib.contextmanager
def synchronized_norm(setup):
    """Build the model inside this: with more than one replica, every BatchNormalization
    computes its batch statistics over all replicas (same weights, same momentum)."""
    from networks import blocks

    with blocks.synchronized_batch_norm(setup.multi_replica):
        yield


# ------------------------------------------------------------------ data and files
def shard(examples, count, index):
    """Worker `index` of `count`'s share of `examples`: every count-th example from `index` on
    (arrays: by data; file sources: by file), the same for every run with the same splits."""
    if count == 1:
        return examples
    import numpy as np

    return examples.take(np.arange(index, len(examples), count))


@contextlib.contextmanager
def work_dir(run_dir, setup):
    """Where this worker writes its run files: the run folder for the chief; a temporary folder,
    deleted at the end, for the others (as TensorFlow's multi-worker guide does)."""
    if setup.is_chief:
        yield run_dir
        return
    folder = tempfile.mkdtemp(prefix=f"cnn-worker{setup.worker_index}-")
    try:
        yield pathlib.Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def weights_sha256(model):
    """SHA-256 of the model's weights (every worker prints it: identical workers, identical digest)."""
    import numpy as np

    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(np.asarray(weight)).tobytes())
    return digest.hexdigest()
