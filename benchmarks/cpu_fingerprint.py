"""What this CPU computes, bit for bit: a table to compare between two machines.

The stored deep-model outputs reproduce on some x86-64 CPUs and not on others, even with the
settings `recsys_helpers.deep` pins (README, "The same numbers on your CPU"). The suspected cause
is that matrix products split their summed dimension into blocks sized from the CPU's caches.
This script prints the CPU's model, instruction sets and cache sizes, then a short hash of the
exact bits of a few computations:

* ``tf.matmul`` of float32 matrices whose summed dimension ``k`` runs from 64 to 2,048 (the sizes
  at which cache-dependent blocking would start to split the sum), on the thread count the book
  fixes, and as a one-row product (TensorFlow takes another code path for it);
* NumPy's float64 ``@`` (OpenBLAS) at the same sizes;
* the weights of a small Keras model after two epochs of training.

Run it on two machines and compare the tables line by line (``diff``): the first ``k`` whose hash
differs shows where the two CPUs start to add in a different order::

    .venv/bin/python benchmarks/cpu_fingerprint.py > fingerprint-$(hostname).txt

It takes a few seconds and needs no data. Run it the way the book runs (``make`` sets the
OpenBLAS and NumPy pins on CPUs with AVX2; set them yourself otherwise).

On the AMD EPYC that wrote this edition (AVX2, no AVX-512, 32 KiB L1 data cache), three runs of
it: setting the OpenBLAS and NumPy pins changed no hash; ``RECSYS_TF_THREADS=1`` instead of 2
changed the ``tf`` products with ``k`` of 800 and more (not those up to 512, nor the one-row
products) and the trained weights. So how TensorFlow splits a long sum depends on more than the
instruction set, as the cache hypothesis needs; which ``k`` differs between two CPUs is what a
second machine's table would show.
"""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

import numpy as np

from recsys_helpers.deep import TF_SETTINGS, TF_THREADS, keras, seed_everything, tf

SIZES = (64, 128, 256, 288, 320, 384, 432, 512, 800, 1024, 1683, 2048)


def digest(array) -> str:
    """The first 12 hex digits of the SHA-256 of an array's bytes (its exact bits)."""
    return hashlib.sha256(np.ascontiguousarray(np.asarray(array)).tobytes()).hexdigest()[:12]


def cpu_description() -> list[str]:
    """Model name, the instruction sets that matter here, and cache sizes (Linux; else what is known)."""
    lines = [f"machine: {platform.machine()}, {os.cpu_count()} logical CPUs"]
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        text = cpuinfo.read_text()
        model = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                      if line.startswith("model name")), "unknown")
        flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                      if line.startswith("flags")), [])
        wanted = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
        lines.append(f"model: {model}")
        lines.append("instruction sets: " + ", ".join(f for f in wanted if f in flags))
    caches = Path("/sys/devices/system/cpu/cpu0/cache")
    if caches.exists():
        for index in sorted(caches.glob("index*")):
            kind = (index / "type").read_text().strip()
            level = (index / "level").read_text().strip()
            size = (index / "size").read_text().strip()
            lines.append(f"cache L{level} {kind}: {size} (one instance)")
    lines.append("environment: " + ", ".join(
        f"{name}={os.environ.get(name, '(unset)')}"
        for name in (*TF_SETTINGS, "OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")))
    threads = f"{TF_THREADS} thread{'' if TF_THREADS == 1 else 's'}"
    lines.append(f"TensorFlow {tf.__version__} on {threads}; NumPy {np.__version__}")
    return lines


def main() -> None:
    for line in cpu_description():
        print(line)
    rng = np.random.default_rng(0)
    print(f"\n{'k':>5}  {'tf (64 x k) @ (k x 64)':>24}  {'tf (1 x k) @ (k x 64)':>22}  "
          f"{'numpy float64 @':>16}")
    for k in SIZES:
        a = rng.standard_normal((64, k))
        b = rng.standard_normal((k, 64))
        tf_block = tf.matmul(a.astype(np.float32), b.astype(np.float32)).numpy()
        tf_row = tf.matmul(a[:1].astype(np.float32), b.astype(np.float32)).numpy()
        print(f"{k:>5}  {digest(tf_block):>24}  {digest(tf_row):>22}  {digest(a @ b):>16}")
    seed_everything(0)
    x = rng.standard_normal((2048, 300)).astype(np.float32)
    y = rng.integers(0, 50, size=2048)
    model = keras.Sequential([keras.Input(shape=(300,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(50)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=512, epochs=2, shuffle=False, verbose=0)
    print(f"\nKeras model (300 -> 64 -> 50), 2 epochs on batches of 512: weights "
          f"{digest(np.concatenate([w.ravel() for w in model.get_weights()]))}")


if __name__ == "__main__":
    main()
