"""Which CPU kernels this process's TensorFlow runs: oneDNN's or Eigen's.

TensorFlow decides once, at start: oneDNN on CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or
AMX, unless TF_ENABLE_ONEDNN_OPTS says otherwise. Under oneDNN the references (Keras's
convolutions) are other kernels, so a few algorithm choices differ by mode (docs/BENCHMARKS.md).
"""
import contextlib
import functools
import os
import threading

_trace = threading.local()


@functools.lru_cache(maxsize=None)
def onednn():
    """TensorFlow's own answer (a private module); without it, what the variable requests."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "1"
    return bool(_pywrap_util_port.IsMklEnabled())


@contextlib.contextmanager
def plain_ops(plain=True):
    """Trace our ops without XLA-compiled functions inside (the layers set it outside training,
    as pooling's `compiled` does): an export must run where XLA's CPU JIT is off (TF Serving)."""
    previous = plain_only()
    _trace.plain = plain
    try:
        yield
    finally:
        _trace.plain = previous


def plain_only():
    """Whether the op being traced must avoid XLA-compiled functions (`plain_ops`)."""
    return getattr(_trace, "plain", False)
