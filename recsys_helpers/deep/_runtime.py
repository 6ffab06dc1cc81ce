"""TensorFlow, imported quietly and configured once. The settings fixed here are meant to keep
the CPU's instruction set beyond AVX2 and its number of cores from changing training's bits.

Not everything CPU-dependent can be pinned from here: two x86-64 CPUs with AVX2 have still been
seen to train different bits (README, "The same numbers on your CPU").

Its C++ start-up messages go to file descriptor 2, which is pointed at ``/dev/null`` for the
duration of the import. The settings that change TensorFlow's numbers (``TF_ENABLE_ONEDNN_OPTS``,
``ONEDNN_MAX_CPU_ISA`` and the number of threads, :data:`TF_THREADS`) are fixed here, in one place.
Every other module of :mod:`recsys_helpers.deep` imports ``keras`` and ``tf`` from here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys

# Settings that must be in place before TensorFlow is imported, so that the instruction set and
# the number of cores do not change training's bits (README, "The same numbers on your CPU"):
# * oneDNN's fused kernels are turned off (TF_ENABLE_ONEDNN_OPTS=0);
# * TensorFlow still multiplies matrices with oneDNN, which picks its kernels by the CPU's
#   instruction set: an AVX-512 CPU and an AVX2-only CPU round differently, and after a few
#   epochs the two models differ visibly. ONEDNN_MAX_CPU_ISA=AVX2 makes every CPU with AVX2
#   (x86-64 CPUs since 2013-2015) run the same kernels;
# * see TF_THREADS below for the number of threads.
# A reader may override any of these in the environment before importing recsys_helpers.deep.
TF_SETTINGS = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
               "TF_ENABLE_ONEDNN_OPTS": "0", "ONEDNN_MAX_CPU_ISA": "AVX2"}  # fmt: skip
for _name, _value in TF_SETTINGS.items():
    os.environ.setdefault(_name, _value)
#: TensorFlow's intra-op threads. Kernels split their sums across threads, so the thread count
#: changes the rounding: it is fixed (by default 2, whatever the number of cores) so that a
#: laptop and a 64-core server train the same model. ``RECSYS_TF_THREADS`` overrides it.
TF_THREADS = os.environ.get("RECSYS_TF_THREADS", "2")
if not TF_THREADS.isdigit() or int(TF_THREADS) < 1:
    raise ValueError(f"RECSYS_TF_THREADS must be a whole number of threads, at least 1; got "
                     f"{TF_THREADS!r}")
TF_THREADS = int(TF_THREADS)


@contextlib.contextmanager
def _quiet_stderr_fd():
    """Point file descriptor 2 at /dev/null (C++ logging bypasses ``sys.stderr``)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


if importlib.util.find_spec("tensorflow") is None:  # pragma: no cover - depends on the install
    raise ImportError("recsys_helpers.deep needs TensorFlow (Keras 3): install the book's "
                      "requirements.txt, or pip install 'recsys-helpers[deep]'")

with _quiet_stderr_fd():
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(TF_THREADS)
    except RuntimeError:  # TensorFlow was already running in this process before this import
        import warnings

        warnings.warn(
            f"TensorFlow was initialised before recsys_helpers.deep was imported, so its thread "
            f"count could not be fixed at {TF_THREADS}: trained models may differ in the last "
            "digits from the book's stored outputs",
            RuntimeWarning,
            stacklevel=2,
        )
    # Touch the device list once while quiet: on machines with CUDA libraries this is where
    # cuInit complains.
    tf.config.list_physical_devices()

layers = keras.layers

__all__ = ["TF_SETTINGS", "TF_THREADS", "keras", "layers", "tf"]
