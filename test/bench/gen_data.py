"""gen_data.py: the benchmark's synthetic data, deterministic, loaded by COPY.

    gen_data.py ROWS TEST_ROWS      (connection from PGHOST, PGPORT, ...)

Creates synth_train (ROWS rows) and synth_test (TEST_ROWS rows), both
(id bigint, x1 .. xF real, label integer), F = BENCH_FEATURES (default 32;
shapes.py).  The features are standard normal draws; the label is the
argmax of a fixed random teacher network, F -> tanh(16) -> C with
C = BENCH_CLASSES (default 4), whose weights come from a fixed seed.  The
same arguments and shapes always give the same rows (numpy's PCG64 with
seed 20240601; test rows use their own stream, so they do not depend on
ROWS).
"""
import sys

import numpy as np
import psycopg2

import pgcopy
from shapes import FEATURES, N_CLASSES, N_FEATURES

N_HIDDEN = 16       # the teacher's
COLUMNS = [("id", "int8")] + [(f, "float4") for f in FEATURES] + [("label", "int4")]
SEED = 20240601


def teacher():
    rng = np.random.Generator(np.random.PCG64(SEED))
    w1 = rng.standard_normal((N_FEATURES, N_HIDDEN)) * (2.0 / np.sqrt(N_FEATURES))
    b1 = rng.standard_normal(N_HIDDEN) * 0.5
    w2 = rng.standard_normal((N_HIDDEN, N_CLASSES))
    b2 = rng.standard_normal(N_CLASSES) * 0.5
    return w1, b1, w2, b2


def rows(n, stream, params, chunk=200000):
    """Yield (ids, X float32, labels) chunks of n rows from the given stream."""
    w1, b1, w2, b2 = params
    rng = np.random.Generator(np.random.PCG64([SEED, stream]))
    done = 0
    while done < n:
        m = min(chunk, n - done)
        x = rng.standard_normal((m, N_FEATURES)).astype(np.float32)
        h = np.tanh(x.astype(np.float64) @ w1 + b1)
        y = np.argmax(h @ w2 + b2, axis=1).astype(np.int32)
        yield np.arange(done + 1, done + m + 1, dtype=np.int64), x, y
        done += m


def load(cur, table, n, stream, params):
    cols = ", ".join("%s real NOT NULL" % f for f in FEATURES)
    cur.execute("DROP TABLE IF EXISTS %s" % table)
    cur.execute("CREATE TABLE %s (id bigint NOT NULL, %s, label integer NOT NULL)"
                % (table, cols))
    for ids, x, y in rows(n, stream, params):
        arrays = {"id": ids, "label": y}
        for j, f in enumerate(FEATURES):
            arrays[f] = x[:, j]
        pgcopy.copy_in(cur, table, COLUMNS, arrays)
    cur.execute("ALTER TABLE %s ADD PRIMARY KEY (id)" % table)


def main():
    n_train, n_test = int(sys.argv[1]), int(sys.argv[2])
    params = teacher()
    conn = psycopg2.connect("")
    with conn, conn.cursor() as cur:
        load(cur, "synth_train", n_train, 1, params)
        load(cur, "synth_test", n_test, 2, params)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM (FREEZE, ANALYZE) synth_train, synth_test")
        cur.execute("SELECT label, count(*) FROM synth_train GROUP BY 1 ORDER BY 1")
        dist = ", ".join("%d: %d" % r for r in cur.fetchall())
    conn.close()
    print("synth_train %d rows x %d features, synth_test %d rows; train labels %s"
          % (n_train, N_FEATURES, n_test, dist), file=sys.stderr)


if __name__ == "__main__":
    main()
