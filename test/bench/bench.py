"""bench.py: the measurements and the table of test/bench/run.sh.

    bench.py --sgemm-gflops G [--runs R]     (connection from PGHOST, ...)

Expects the database to hold the extension, synth_train, synth_test,
iris_train and iris_test (run.sh loads them).  Runs every case R times,
ours and PyTorch's (peer_torch.py, in its own process) in turn, and prints
the medians with ratios (ours / PyTorch), the issue's targets and PASS or
MISS.  Every statement of ours runs in a fresh connection, so that each
backend's memory high-water mark belongs to one case.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
SYNTH = ["x%d" % (i + 1) for i in range(32)]
LAYERS = [32, 64, 64, 4]
FULL_ROWS = 1000000

TRAIN_A = ("SELECT seconds, global_step, rows_read FROM est_train('bench_a', 'synth_train', "
           "features => %s, hidden_units => '{64,64}', batch_size => 256, epochs => 1, "
           "params => '{\"seed\": 1}')")
TRAIN_B = ("SELECT seconds, global_step FROM est_train('bench_iris', 'iris_train', "
           "hidden_units => '{64,64}', batch_size => 32, steps => 1000, "
           "params => '{\"seed\": 1}')")
SCORE_C = "SELECT count(*) FROM synth_train t WHERE est_predict('bench_a', t) >= 0"
WRITE_C = ("CREATE TABLE bench_pred AS "
           "SELECT id, est_predict('bench_a', t) AS pred FROM synth_train t")
TABLE_D = "SELECT count(*) FROM est_predict_table('bench_a', 'synth_train', key => 'id')"


def connect():
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    return conn, cur


def timed(cur, sql, args=None):
    t = time.perf_counter()
    cur.execute(sql, args)
    rows = cur.fetchall() if cur.description else None
    return time.perf_counter() - t, rows


def one(sql, args=None):
    conn, cur = connect()
    cur.execute(sql, args)
    row = cur.fetchone()
    conn.close()
    return row


def drop_model(name):
    one("SELECT count(est_drop_model(name)) FROM estimator.models WHERE name = %s", (name,))


def vm_hwm_kb(cur):
    cur.execute("SELECT pg_read_file('/proc/' || pg_backend_pid() || '/status')")
    for line in cur.fetchone()[0].splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def accuracy(model, source):
    conn, cur = connect()
    cur.execute("SELECT value FROM est_evaluate(%s, %s) WHERE metric = 'accuracy'",
                (model, source))
    acc = cur.fetchone()[0]
    conn.close()
    return acc


def run_ours(r, have_table):
    # (a): est_train, then the backend's VmHWM in the same session
    drop_model("bench_a")
    conn, cur = connect()
    wall, rows = timed(cur, TRAIN_A % ("'{%s}'" % ",".join(SYNTH)))
    r["a_seconds"], r["a_steps"], r["a_rows"] = rows[0]
    r["a_wall"] = wall
    r["a_hwm_kb"] = vm_hwm_kb(cur)
    # the training loop alone: the sum of the training log's intervals
    cur.execute("SELECT sum(seconds) FROM estimator.training_log WHERE model = 'bench_a'")
    r["a_loop"] = cur.fetchone()[0]
    conn.close()
    r["a_accuracy"] = accuracy("bench_a", "synth_test")

    # (b): Iris
    drop_model("bench_iris")
    conn, cur = connect()
    wall, rows = timed(cur, TRAIN_B)
    r["b_seconds"], r["b_wall"] = rows[0][0], wall
    conn.close()
    r["b_accuracy"] = accuracy("bench_iris", "iris_test")

    # (c): est_predict over every row of synth_train, counted and written
    conn, cur = connect()
    r["c_select"], rows = timed(cur, SCORE_C)
    r["c_rows"] = rows[0][0]
    conn.close()
    conn, cur = connect()
    cur.execute("DROP TABLE IF EXISTS bench_pred")
    r["c_write"], _ = timed(cur, WRITE_C)
    cur.execute("DROP TABLE bench_pred")
    conn.close()

    # (d): est_predict_table, when the extension has it
    if have_table:
        conn, cur = connect()
        r["d_seconds"], rows = timed(cur, TABLE_D)
        r["d_rows"] = rows[0][0]
        conn.close()


def run_peer(python):
    out = subprocess.run([python, os.path.join(HERE, "peer_torch.py")],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt_s(v):
    return "n/a" if v is None else "%.3f s" % v


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def verdict(ok):
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sgemm-gflops", type=float, required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()

    have_table = one("SELECT to_regprocedure('est_predict_table(text,text,text)') IS NOT NULL")[0]
    parallel = one("SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p "
                   "JOIN pg_namespace n ON n.oid = p.pronamespace "
                   "WHERE p.proname ~ '^est_.*(parallel|_agg|train_step|combine)' "
                   "AND n.nspname NOT IN ('pg_catalog', 'information_schema')")[0]
    n_rows = one("SELECT count(*) FROM synth_train")[0]
    conn, cur = connect()
    cur.execute("LOAD '$libdir/estimator'")
    baseline = vm_hwm_kb(cur)
    conn.close()
    n_test = one("SELECT count(*) FROM synth_test")[0]

    ours, peer = [], []
    for i in range(args.runs):
        r = {}
        run_ours(r, have_table)
        ours.append(r)
        peer.append(run_peer(args.python))
        print("bench: run %d/%d: ours %s" % (i + 1, args.runs, json.dumps(
            {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()})),
            file=sys.stderr)
        print("bench: run %d/%d: torch %s" % (i + 1, args.runs, json.dumps(
            {k: round(v, 4) if isinstance(v, float) else v for k, v in peer[-1].items()})),
            file=sys.stderr)

    for p in peer:
        p["a_e2e"] = p["a_fetch"] + p["a_train"]
        p["b_e2e"] = p["b_fetch"] + p["b_train"]
        p["c_score_e2e"] = p["c_fetch"] + p["c_score"]
        p["c_e2e"] = p["c_fetch"] + p["c_score"] + p["c_write"]
    O = {k: med(ours, k) for k in ours[0]}
    P = {k: med(peer, k) for k in peer[0] if not isinstance(peer[0][k], str)}

    flops_per_row = 0
    for l in range(len(LAYERS) - 1):
        flops_per_row += 2 * LAYERS[l] * LAYERS[l + 1] * (2 if l == 0 else 3)
    ours_gflops = flops_per_row * n_rows / O["a_seconds"] / 1e9
    torch_gflops = flops_per_row * n_rows / P["a_train"] / 1e9
    matrix = n_rows * (len(SYNTH) + 1) * 4
    n_params = sum(LAYERS[l] * LAYERS[l + 1] + LAYERS[l + 1] for l in range(len(LAYERS) - 1))
    model = n_params * 4 * 3        # weights, gradient, Adagrad accumulator
    hwm = O["a_hwm_kb"] * 1024

    rows = []   # case, measure, ours, torch, ratio, target, verdict

    def add(case, what, o, p, target, ok, rat=None):
        rows.append((case, what, o, p, rat, target, verdict(ok)))

    def cmp(case, what, o, p, limit):
        q = ratio(o, p)
        rows.append((case, what, fmt_s(o), fmt_s(p),
                     "n/a" if q is None else "%.3fx" % q,
                     "<= %.2fx" % limit if limit else "-",
                     "-" if not limit else verdict(None if q is None else q <= limit)))

    cmp("a", "train 1 epoch: est_train seconds / torch compute only",
        O["a_seconds"], P["a_train"], 0.45)
    cmp("a", "train 1 epoch: training loop only (training_log) / torch compute",
        O["a_loop"], P["a_train"], None)
    cmp("a", "train 1 epoch: est_train wall / torch fetch+train",
        O["a_wall"], P["a_e2e"], 0.10)
    diff = 100 * (O["a_accuracy"] - P["a_accuracy"])
    rows.append(("a", "accuracy on synth_test (%d rows)" % n_test,
                 "%.2f %%" % (100 * O["a_accuracy"]), "%.2f %%" % (100 * P["a_accuracy"]),
                 "%+.2f pt" % diff, "within 1 pt", verdict(abs(diff) <= 1.0)))
    pct = 100 * ours_gflops / args.sgemm_gflops
    rows.append(("a", "arithmetic rate, %% of sgemm %.1f GFLOP/s" % args.sgemm_gflops,
                 "%.2f GF/s %.1f%%" % (ours_gflops, pct),
                 "%.2f GF/s %.1f%%" % (torch_gflops, 100 * torch_gflops / args.sgemm_gflops),
                 "%.3fx" % (ours_gflops / torch_gflops), ">= 60 %", verdict(pct >= 60)))
    cmp("b", "Iris 1000 steps of 32: est_train seconds / torch compute",
        O["b_seconds"], P["b_train"], 0.05)
    cmp("b", "Iris 1000 steps of 32: est_train wall / torch fetch+train",
        O["b_wall"], P["b_e2e"], None)
    rows.append(("b", "accuracy on iris_test (30 rows)",
                 "%.2f %%" % (100 * O["b_accuracy"]), "%.2f %%" % (100 * P["b_accuracy"]),
                 "%+.2f pt" % (100 * (O["b_accuracy"] - P["b_accuracy"])), "-", "-"))
    q = ratio(O["c_select"], P["c_score_e2e"])
    rows.append(("c", "score %d rows: SELECT count(*) WHERE est_predict / torch fetch+score" % n_rows,
                 fmt_s(O["c_select"]), fmt_s(P["c_score_e2e"]), "%.3fx" % q,
                 "<= 2.5 s", verdict(O["c_select"] <= 2.5)))
    cmp("c", "score+write %d rows: CREATE TABLE AS est_predict / torch fetch+score+COPY" % n_rows,
        O["c_write"], P["c_e2e"], 0.10)
    if have_table:
        q = ratio(O["d_seconds"], P["c_score_e2e"])
        rows.append(("d", "est_predict_table %d rows / torch fetch+score" % n_rows,
                     fmt_s(O["d_seconds"]), fmt_s(P["c_score_e2e"]), "%.3fx" % q,
                     "<= 1.0 s", verdict(O["d_seconds"] <= 1.0)))
    else:
        rows.append(("d", "est_predict_table(text,text,text)", "n/a (absent)",
                     fmt_s(P["c_score_e2e"]), "n/a", "<= 1.0 s", "n/a"))
    rows.append(("e", "2-core training", "n/a (not implemented)" if not parallel
                 else "n/a (not measured: %s)" % parallel, "-", "n/a", "-", "n/a"))
    rows.append(("mem", "peak backend VmHWM in (a) / float32 matrix+model %.1f MB"
                 % ((matrix + model) / 2**20),
                 "%.1f MB" % (hwm / 2**20), "%.1f MB (process)" % (P["vm_hwm_kb"] / 1024),
                 "%.2fx" % (hwm / (matrix + model)), "<= 1.50x",
                 verdict(hwm / (matrix + model) <= 1.5)))

    head = ("case", "measure", "ours", "PyTorch", "ratio", "target", "verdict")
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    print()
    print("estimator benchmark: synth_train %d rows x 32 features, synth_test %d rows, "
          "medians of %d runs" % (n_rows, n_test, args.runs))
    print("PyTorch %s, %s thread; OpenBLAS sgemm at batch-256 shapes of {32->64->64->4}: "
          "%.1f GFLOP/s (1 thread); %d FLOPs per row per training step"
          % (peer[0]["torch"], peer[0]["threads"], args.sgemm_gflops, flops_per_row))
    print()
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
    print(line)
    for x in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(x, widths)).rstrip())
    print(line)
    print("torch phases (medians): fetch train %.3f s, train %.3f s, fetch %d ids+features %.3f s, "
          "score %.3f s, COPY back %.3f s; full pipeline %.3f s"
          % (P["a_fetch"], P["a_train"], n_rows, P["c_fetch"], P["c_score"], P["c_write"],
             P["a_e2e"] + P["c_e2e"]))
    print("arithmetic over the training loop alone (training_log): %.2f GFLOP/s, %.1f %% of sgemm"
          % (flops_per_row * n_rows / O["a_loop"] / 1e9,
             100 * flops_per_row * n_rows / O["a_loop"] / 1e9 / args.sgemm_gflops))
    print("memory: a fresh backend's VmHWM after loading the library is %.1f MB; matrix = "
          "rows x (32 features + label) x 4 bytes, model = %d parameters x 3 (weights, "
          "gradient, Adagrad accumulator) x 4 bytes" % (baseline / 1024, n_params))
    verdicts = [x[6] for x in rows if x[6] in ("PASS", "MISS")]
    print("%d PASS, %d MISS, %d n/a" % (verdicts.count("PASS"), verdicts.count("MISS"),
                                        sum(1 for x in rows if x[6] == "n/a")))
    if n_rows != FULL_ROWS:
        print("note: the targets are for %d rows; at %d rows the verdicts are only indicative"
              % (FULL_ROWS, n_rows))


if __name__ == "__main__":
    main()
