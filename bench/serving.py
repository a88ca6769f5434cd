"""Serving benchmark: a load test of `cnn serve` over REST, and in-process SavedModel latency.

`python -m bench serving [--quick]`. Trains digits (defaults, 1 epoch: accuracy is irrelevant to
latency) into a temporary folder, starts `cnn serve` in a subprocess on 127.0.0.1 (so client and
server threads do not share one interpreter lock), sends batch-1 PNG requests to `image_bytes`
from `CONCURRENCY` threads, bounded by `REQUESTS` and `SECONDS`, and reports throughput and
p50/p99 latency; then times the export's `serving_default` in this process at batch 1 and 64.
"""
import base64
import concurrent.futures
import datetime
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

CONCURRENCY = 8
REQUESTS = 3000
SECONDS = 60.0


def _export(folder):
    import pipelines
    from pipelines.core import config as configs
    import cli

    cls = pipelines.get("digits")
    pipeline = cls(configs.override(cls.Config(), ["epochs=1"]))
    return cli.train_and_export(pipeline, run_dir=folder / "run", export_dir=folder / "saved_models", verbose=0).export_path


def _start_server(root):
    cnn = pathlib.Path(sys.executable).with_name("cnn")
    process = subprocess.Popen([str(cnn), "serve", str(root), "--port", "0"], stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        if match:
            return process, match.group(0)
    raise RuntimeError(f"cnn serve exited with {process.wait()}")


def _percentile(values, q):
    import numpy as np

    return float(np.percentile(values, q))


def _load_test(url, body, requests, seconds, concurrency):
    """(completed, errors, wall seconds, latencies in ms) of batch-1 predict requests."""
    deadline = time.perf_counter() + seconds
    data = json.dumps(body).encode()

    def one(_):
        if time.perf_counter() > deadline:
            return None
        start = time.perf_counter()
        request = urllib.request.Request(f"{url}/v1/models/digits:predict", data=data,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                ok = response.status == 200 and "predictions" in json.loads(response.read())
        except OSError:
            ok = False
        return ok, (time.perf_counter() - start) * 1000

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = [r for r in pool.map(one, range(requests)) if r is not None]
    wall = time.perf_counter() - start
    latencies = [ms for ok, ms in results if ok]
    return len(latencies), sum(not ok for ok, _ in results), wall, latencies


def _in_process(export_path, image, batch, repeats):
    """Latencies (ms) of serving_default on `batch` copies of `image`, after 5 warm-up calls."""
    import numpy as np
    import tensorflow as tf

    function = tf.saved_model.load(str(export_path)).signatures["serving_default"]
    inputs = tf.constant(np.repeat(image[None], batch, axis=0))
    for _ in range(5):
        function(image=inputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(image=inputs)["probabilities"].numpy()
        times.append((time.perf_counter() - start) * 1000)
    return times


def run(argv):
    import tensorflow as tf

    from serving import warmup

    quick = "--quick" in argv
    requests, seconds = (150, 20.0) if quick else (REQUESTS, SECONDS)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        export_path = _export(pathlib.Path(folder))
        records = warmup.read(export_path)
        png = next(v for s, v in records if s == "image_bytes")["image_bytes"][0]
        image = next(v for s, v in records if s == "serving_default")["image"][0]
        process, url = _start_server(export_path.parent.parent)
        try:
            body = {"signature_name": "image_bytes", "instances": [{"b64": base64.b64encode(png).decode()}]}
            _load_test(url, body, 20, 30.0, 2)  # first requests: connection setup, lazy paths
            done, errors, wall, latencies = _load_test(url, body, requests, seconds, CONCURRENCY)
        finally:
            process.terminate()
            process.wait(timeout=30)
        one = _in_process(export_path, image, 1, 200 if not quick else 50)
        many = _in_process(export_path, image, 64, 50 if not quick else 15)
    load_after = os.getloadavg()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor() or platform.machine())
    rows = [
        ("`cnn serve` REST, batch 1 (PNG `{\"b64\"}` to `image_bytes`, row format), "
         f"{CONCURRENCY} concurrent clients, {done} requests ({errors} errors)",
         f"{done / wall:.1f} requests/s; p50 {_percentile(latencies, 50):.1f} ms, "
         f"p99 {_percentile(latencies, 99):.1f} ms"),
        ("in-process `serving_default`, batch 1 (float 16x16 image)",
         f"p50 {_percentile(one, 50):.2f} ms, p99 {_percentile(one, 99):.2f} ms ({len(one)} calls)"),
        ("in-process `serving_default`, batch 64",
         f"p50 {_percentile(many, 50):.2f} ms, p99 {_percentile(many, 99):.2f} ms "
         f"= {64000 / _percentile(many, 50):.0f} images/s ({len(many)} calls)"),
    ]
    table = "\n".join(f"| {what} | {result} |" for what, result in rows)
    return (
        "## serving (serving/rest/dev_server.py, `cnn serve`)\n\n"
        f"Measured {datetime.date.today()} on {cpu}, {os.cpu_count()} cores, {platform.system()}, "
        f"TensorFlow {tf.__version__} CPU build, `python -m bench serving{' --quick' if quick else ''}`: the digits export "
        f"(lecun1989 defaults, 16x16), client and server on 127.0.0.1. The machine was shared with other "
        f"engineers' training jobs (load average {load_before[0]:.1f} before, {load_after[0]:.1f} after, "
        f"on {os.cpu_count()} cores), so these numbers are pessimistic and noisy. `cnn serve` is the development "
        "server (waitress, no batching) with its default limits (TF Serving's): a pool of 4 threads per core, "
        "a 30 s request timeout, bodies up to 2 GiB - 1, batches up to `max_batch_size` (1024); "
        "production numbers come from TF Serving.\n\n"
        "| measurement | result |\n|---|---|\n" + table + "\n"
    )
