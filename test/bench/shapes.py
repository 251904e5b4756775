"""shapes.py: the shapes of the benchmark's data and network.

Read from the environment, so that run.sh, gen_data.py, bench.py and
peer_torch.py (which bench.py starts) agree on them:

  BENCH_FEATURES   features of synth_train and synth_test, x1 .. xN  (32)
  BENCH_CLASSES    label classes, 0 .. N-1                            (4)
  BENCH_HIDDEN     hidden layers of the trained network, "64,64"  ("64,64")

The defaults are the benchmark of issue 6.  BENCH_HIDDEN also applies to
the Iris case; the teacher network that labels the rows keeps its one
tanh layer of 16.
"""
import os
import re


def _int(name, default, least):
    raw = os.environ.get(name, "").strip() or str(default)
    if not re.fullmatch(r"[1-9][0-9]*", raw) or int(raw) < least:
        raise SystemExit("%s must be an integer >= %d, not %r" % (name, least, raw))
    return int(raw)


def _hidden():
    raw = os.environ.get("BENCH_HIDDEN", "").strip() or "64,64"
    parts = [p.strip() for p in raw.split(",")]
    if not all(re.fullmatch(r"[1-9][0-9]*", p) for p in parts):
        raise SystemExit("BENCH_HIDDEN must be positive integers separated by "
                         "commas, such as 64,64, not %r" % raw)
    return [int(p) for p in parts]


N_FEATURES = _int("BENCH_FEATURES", 32, 1)
N_CLASSES = _int("BENCH_CLASSES", 4, 2)
HIDDEN = _hidden()
FEATURES = ["x%d" % (i + 1) for i in range(N_FEATURES)]
# Outputs of the network: one sigmoid logit for two classes (estimator's
# head, like TensorFlow's binary head), else one logit per class.
N_OUTPUTS = 1 if N_CLASSES == 2 else N_CLASSES
# the trained network's layer sizes, inputs to outputs
LAYERS = [N_FEATURES] + HIDDEN + [N_OUTPUTS]


def hidden_units():
    """HIDDEN as a PostgreSQL integer[] literal, "{64,64}"."""
    return "{%s}" % ",".join(str(h) for h in HIDDEN)


def describe():
    """The shapes in one line, for the table's header."""
    return "{%s}" % "->".join(str(d) for d in LAYERS)
