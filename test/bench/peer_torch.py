"""peer_torch.py: the PyTorch peer of the benchmark, one run, JSON on stdout.

    peer_torch.py [SEED]   (connection from PGHOST, PGPORT, ...)

Trains what est_train trains in test/bench/bench.py: a DNN with the hidden
layers of BENCH_HIDDEN (default 64,64; shapes.py) with ReLU and a softmax
cross-entropy head (for two classes, like estimator, one sigmoid logit and
binary cross-entropy), Glorot-uniform kernels and zero biases, inputs
standardised with the training rows' mean and population standard
deviation, Adagrad (lr 0.05, initial_accumulator_value 0.1, eps 1e-7,
Keras' epsilon), on one thread.  synth_train has BENCH_FEATURES features
and BENCH_CLASSES classes.  Every phase is timed on its own:

  a_fetch      COPY synth_train (features, label) TO STDOUT binary -> tensors
  a_train      standardise + 1 epoch, batch 256 (compute only)
  c_fetch      COPY synth_train (id, features) TO STDOUT binary -> tensors
  c_score      forward pass and argmax of every row
  c_write      COPY (id, prediction) FROM STDIN binary into a new table
  b_fetch      the Iris training rows
  b_train      standardise + 1000 steps, batch 32 (compute only)

plus the accuracy on synth_test and iris_test, and the process's VmHWM.
SEED (default 1) seeds the initial weights and the order of the rows, as
est_train's params seed does.
"""
import ctypes
import json
import math
import os
import re
import sys
import time

# One thread, as the issue asks of the peer: torch.set_num_threads limits
# PyTorch's own pool, not the OpenBLAS that Debian's PyTorch multiplies
# with (libblas.so.3), which otherwise starts a thread a core.  Read as
# OpenBLAS loads, so before torch and numpy are imported.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np
import psycopg2
import torch

import pgcopy
from shapes import FEATURES as SYNTH, HIDDEN, N_CLASSES

torch.set_num_threads(1)
SEED = int(sys.argv[1]) if len(sys.argv) > 1 else 1
IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def outputs(n_classes):
    """The network's outputs: one logit for two classes, as estimator's."""
    return 1 if n_classes == 2 else n_classes


def network(n_in, n_classes):
    torch.manual_seed(SEED)
    layers, width = [], n_in
    for h in HIDDEN:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    net = torch.nn.Sequential(*layers, torch.nn.Linear(width, outputs(n_classes)))
    for m in net:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    return net


def fit_scaler(x):
    mean = x.mean(dim=0)
    std = x.std(dim=0, unbiased=False)
    std[std == 0] = 1
    return mean, std


def train(x, y, n_classes, batch, steps):
    """Standardise and train for steps batches over repeated shuffled passes
    (the last batch of a pass may be short); returns (net, mean, std)."""
    mean, std = fit_scaler(x)
    xs = (x - mean) / std
    net = network(x.shape[1], n_classes)
    opt = torch.optim.Adagrad(net.parameters(), lr=0.05,
                              initial_accumulator_value=0.1, eps=1e-7)
    if outputs(n_classes) == 1:
        bce = torch.nn.BCEWithLogitsLoss()
        y = y.to(torch.float32)

        def loss_fn(logits, labels):
            return bce(logits.squeeze(1), labels)
    else:
        loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(SEED)
    n, done = x.shape[0], 0
    while done < steps:
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, batch):
            idx = perm[start:start + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xs[idx]), y[idx])
            loss.backward()
            opt.step()
            done += 1
            if done == steps:
                break
    return net, mean, std


def predict(net, mean, std, x, chunk=65536):
    out = torch.empty(x.shape[0], dtype=torch.int64)
    with torch.no_grad():
        for s in range(0, x.shape[0], chunk):
            logits = net((x[s:s + chunk] - mean) / std)
            if logits.shape[1] == 1:
                out[s:s + chunk] = (logits[:, 0] > 0).to(torch.int64)
            else:
                out[s:s + chunk] = logits.argmax(dim=1)
    return out


def fetch(cur, table, feats, extra):
    cols = [(c, "int8") for c in extra if c == "id"] + \
        [(f, "float4") for f in feats] + [(c, "int4") for c in extra if c == "label"]
    query = "SELECT %s FROM %s" % (", ".join(c for c, _ in cols), table)
    rec = pgcopy.copy_out(cur, query, cols)
    x = torch.from_numpy(pgcopy.matrix(rec, feats))
    out = {"x": x}
    if "label" in extra:
        out["y"] = torch.from_numpy(rec["label"].astype(np.int64))
    if "id" in extra:
        out["id"] = rec["id"].astype(np.int64)
    return out


def vm_hwm_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def blas_threads():
    """The threads of each OpenBLAS loaded in this process: {path: n}."""
    with open("/proc/self/maps") as f:
        paths = sorted(set(re.findall(r"(/\S*libopenblas\S*\.so[.\d]*)$", f.read(), re.M)))
    threads = {}
    for path in paths:
        try:
            threads[path] = ctypes.CDLL(path).openblas_get_num_threads()
        except (OSError, AttributeError):
            pass
    return threads


def main():
    torch.zeros(2, 2) @ torch.zeros(2, 2)   # loads the BLAS
    r = {"torch": torch.__version__, "threads": torch.get_num_threads(),
         "blas_threads": max(blas_threads().values(), default=None)}
    clock = time.perf_counter
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()

    # (a) one epoch on synth_train
    t = clock()
    d = fetch(cur, "synth_train", SYNTH, ["label"])
    r["a_fetch"] = clock() - t
    rows = d["x"].shape[0]
    t = clock()
    net, mean, std = train(d["x"], d["y"], N_CLASSES, 256, math.ceil(rows / 256))
    r["a_train"] = clock() - t
    del d
    test = fetch(cur, "synth_test", SYNTH, ["label"])
    r["a_accuracy"] = float((predict(net, mean, std, test["x"]) == test["y"])
                            .double().mean())
    del test

    # (c) score synth_train and write the predictions back
    t = clock()
    d = fetch(cur, "synth_train", SYNTH, ["id"])
    r["c_fetch"] = clock() - t
    t = clock()
    pred = predict(net, mean, std, d["x"])
    r["c_score"] = clock() - t
    t = clock()
    cur.execute("DROP TABLE IF EXISTS bench_torch_pred")
    cur.execute("CREATE TABLE bench_torch_pred (id bigint, pred double precision)")
    pgcopy.copy_in(cur, "bench_torch_pred", [("id", "int8"), ("pred", "float8")],
                   {"id": d["id"], "pred": pred.numpy().astype(np.float64)})
    r["c_write"] = clock() - t
    cur.execute("SELECT count(*) FROM bench_torch_pred")
    r["c_rows"] = cur.fetchone()[0]
    cur.execute("DROP TABLE bench_torch_pred")
    del d, pred

    # (b) Iris, 1000 steps of 32
    t = clock()
    d = fetch(cur, "iris_train", IRIS, ["label"])
    r["b_fetch"] = clock() - t
    t = clock()
    net, mean, std = train(d["x"], d["y"], 3, 32, 1000)
    r["b_train"] = clock() - t
    test = fetch(cur, "iris_test", IRIS, ["label"])
    r["b_accuracy"] = float((predict(net, mean, std, test["x"]) == test["y"])
                            .double().mean())

    r["vm_hwm_kb"] = vm_hwm_kb()
    conn.close()
    json.dump(r, sys.stdout)
    print()


if __name__ == "__main__":
    main()
