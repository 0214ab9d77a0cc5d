#!/usr/bin/env python
"""Evaluation throughput of the anchors' Keras model: model.evaluate on the 10,000 MNIST test images.

Builds and compiles exactly the model of ../shared/anchors/keras_cnn.py (ELU alpha=1, he_normal, dropout 0.25),
runs model.evaluate(x_test, y_test, batch_size=B, verbose=0) once as warm-up and then R timed times, and prints
    EVAL framework=keras images_per_s=<best> seconds=<best>
with the fastest of the timed runs. The weights stay untrained: the speed does not depend on them.

Usage: keras_evaluate.py [--anchors DIR] [--batch-size B] [--repeats R] [--seed S]
MNIST is read by the anchors' mnist_idx.py, from $MNIST_DIR (as the anchors do).
"""
import argparse
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--anchors", default=os.path.join(HERE, "..", "..", "shared", "anchors"),
               help="directory with mnist_idx.py (default: ../shared/anchors from the repo root)")
p.add_argument("--batch-size", type=int, default=250)
p.add_argument("--repeats", type=int, default=3, help="timed evaluations after the warm-up (default 3)")
p.add_argument("--seed", type=int, default=1)
args = p.parse_args()
if args.repeats < 1 or args.batch_size < 1:
    sys.exit("keras_evaluate.py: --repeats and --batch-size must be at least 1")

sys.path.insert(0, os.path.abspath(args.anchors))

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

from mnist_idx import load_mnist  # noqa: E402

keras.utils.set_random_seed(args.seed)

(_, _), (x_test, y_test) = load_mnist()
x_test = (x_test.astype("float32") / 255.0)[..., None]
y_test = keras.utils.to_categorical(y_test, 10)

# The layer list of keras_cnn.py with its defaults (--act elu --init he --dropout 0.25).
INIT = "he_normal"
DROPOUT = 0.25


def act():
    return layers.ELU(alpha=1.0)


model = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(32, (3, 3), kernel_initializer=INIT),
    act(),
    layers.MaxPooling2D(pool_size=(2, 2)),
    layers.Dropout(DROPOUT),
    layers.Conv2D(64, (3, 3), kernel_initializer=INIT),
    act(),
    layers.MaxPooling2D(pool_size=(2, 2)),
    layers.Dropout(DROPOUT),
    layers.Flatten(),
    layers.Dense(256, kernel_initializer=INIT),
    act(),
    layers.Dense(10, activation="softmax", kernel_initializer=INIT),
])
model.compile(loss=keras.losses.categorical_crossentropy,
              optimizer=keras.optimizers.Adam(),
              metrics=["accuracy"])

print(f"INFO tf={tf.__version__} keras={keras.__version__} backend={keras.backend.backend()} "
      f"cpu_count={os.cpu_count()} intra_op={tf.config.threading.get_intra_op_parallelism_threads()} "
      f"inter_op={tf.config.threading.get_inter_op_parallelism_threads()} (0 = TF default = all cores) "
      f"params={model.count_params()} images={len(x_test)} batch_size={args.batch_size}", flush=True)

n = len(x_test)
t0 = time.perf_counter()
model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0)  # warm-up: graph tracing
print(f"WARMUP seconds={time.perf_counter() - t0:.4f}", flush=True)

times = []
for i in range(args.repeats):
    t0 = time.perf_counter()
    c0 = time.process_time()
    loss, acc = model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0)
    dt = time.perf_counter() - t0
    dc = time.process_time() - c0
    times.append(dt)
    print(f"RUN {i + 1} seconds={dt:.4f} cpu_s={dc:.3f} images_per_s={n / dt:.1f} "
          f"loss={loss:.4f} acc={acc:.4f}", flush=True)

best = min(times)
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(f"INFO peak_rss_mb={rss_mb:.1f}", flush=True)
print(f"EVAL framework=keras images_per_s={n / best:.1f} seconds={best:.4f}", flush=True)
