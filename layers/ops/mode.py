"""Which CPU kernels this process's TensorFlow runs: oneDNN's or Eigen's.

TensorFlow decides once, at start: oneDNN on CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or
AMX, unless TF_ENABLE_ONEDNN_OPTS says otherwise. Under oneDNN the references (Keras's
convolutions) are other kernels, so a few algorithm choices differ by mode (docs/BENCHMARKS.md).
"""
import functools
import os


@functools.lru_cache(maxsize=None)
def onednn():
    """TensorFlow's own answer (a private module); without it, what the variable requests."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "1"
    return bool(_pywrap_util_port.IsMklEnabled())
