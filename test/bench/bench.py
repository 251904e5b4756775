"""bench.py: the measurements and the table of test/bench/run.sh.

    bench.py --sgemm-gflops G [--core-gflops C] [--iris-gflops I] [--runs R]
                                             (connection from PGHOST, ...)

Expects the database to hold the extension, synth_train, synth_test,
iris_train and iris_test (run.sh loads them), with the shapes of
BENCH_FEATURES, BENCH_CLASSES and BENCH_HIDDEN (shapes.py).  Runs every case
R times, ours and PyTorch's (peer_torch.py, in its own process) in turn,
run k with seed k on both sides (so that an accuracy is a median over seeds
too), and prints the medians with ratios (ours / PyTorch), the issue's
targets and PASS, MISS or n/a.  Every statement of ours runs in a fresh connection, so
that each backend's memory belongs to one case.  The cases of ours:

  (a)     est_train, 1 epoch of synth_train (model bench_a); its arithmetic
          rate over the training loop (the sum of estimator.training_log's
          seconds) against run.sh's sgemm rate at the same shapes, and
          against the rate of the same products in the core's own
          multiplication (EstGemm)
  (e)     the same with params parallel_workers 1 (bench_e): speedup over
          (a) and accuracy; n/a while est_train refuses the key; notices
          and log lines other than the loss lines are printed
  stream  the same with estimator.max_memory a quarter of the float32
          matrix (bench_s); n/a while est_train refuses a source larger
          than the setting
  (b)     Iris, 1000 steps of 32;  (c) est_predict over synth_train, counted
          and written to a table;  (d) est_predict_table over it

Memory is the backend's private memory: a thread reads the backend's
/proc/<pid>/status every 5 ms while the training statement runs and keeps
the peak of RssAnon, from which the RssAnon of a fresh backend that has
loaded the library is subtracted.  (VmHWM, the peak of VmRSS, also counts
the pages of shared_buffers the backend touched, which are not its own.)
The thread reads the file directly when it can (the same host, as root or
as the server's OS user), else through pg_read_file on a second connection,
which needs a superuser.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

import psycopg2

from shapes import FEATURES, LAYERS, N_CLASSES, N_FEATURES, describe, hidden_units

HERE = os.path.dirname(os.path.abspath(__file__))
FULL_ROWS = 1000000
SAMPLE_EVERY = 0.005        # seconds between two reads of /proc/<pid>/status
STREAM_ALLOWANCE = 16 * 2**20   # bytes allowed above estimator.max_memory


def train_sql(model, seed, parallel_workers=0):
    """Case (a)'s training: one epoch of synth_train, batch 256, Adagrad."""
    params = {"seed": seed}
    if parallel_workers:
        params["parallel_workers"] = parallel_workers
    return ("SELECT seconds, global_step, rows_read FROM est_train(%s, 'synth_train', "
            "features => %s, hidden_units => %s, batch_size => 256, epochs => 1, "
            "params => %s)" % (quote(model), quote("{%s}" % ",".join(FEATURES)),
                               quote(hidden_units()), quote(json.dumps(params))))


def quote(text):
    return "'" + text.replace("'", "''") + "'"




def train_b(seed):
    """Case (b)'s training: Iris, 1000 steps of 32."""
    return ("SELECT seconds, global_step FROM est_train('bench_iris', 'iris_train', "
            "hidden_units => %s, batch_size => 32, steps => 1000, "
            "params => %s)" % (quote(hidden_units()), quote(json.dumps({"seed": seed}))))


SCORE_C = "SELECT count(*) FROM synth_train t WHERE est_predict('bench_a', t) >= 0"
WRITE_C = ("CREATE TABLE bench_pred AS "
           "SELECT id, est_predict('bench_a', t) AS pred FROM synth_train t")
# What PostgreSQL alone takes for (c)'s write: the same rows, a constant for
# the prediction (est_predict's type), no model.
WRITE_FLOOR = ("CREATE TABLE bench_pred AS "
               "SELECT id, 0::double precision AS pred FROM synth_train t")
# What reading synth_train takes PostgreSQL alone, in one backend: a scan
# that forms no row, the least any reader of the table pays.
SCAN_FLOOR = "SELECT count(*) FROM synth_train"
TABLE_D = "SELECT count(*) FROM est_predict_table('bench_a', 'synth_train', key => 'id')"
# A notice of (e) that says training did not run in parallel.
FALLBACK = re.compile(r"fall|one backend|single backend|serial|no (parallel )?workers?"
                      r"|could not (launch|start|register)|without (parallel )?workers?", re.I)
# est_train's progress notices, which (e) leaves out of its report.
PROGRESS = re.compile(r"^\w+:\s+loss = ")


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


def first_line(err):
    """The first line of a server error (without "ERROR:"), or of any error."""
    text = (getattr(err, "pgerror", None) or str(err)).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    return re.sub(r"^ERROR:\s+", "", line)


def status_fields(text):
    """The kB figures of a /proc/<pid>/status text, by name."""
    out = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            out[name] = int(parts[0])
    return out


class ProcStatus:
    """Reads one backend's /proc/<pid>/status.

    Directly when the file is readable here and belongs to a postgres
    process (the bench runs on the server's host); otherwise with
    pg_read_file on a connection of its own, which needs a superuser.
    how is "direct", "pg_read_file" or None (neither works).
    """

    def __init__(self, pid):
        self.path = "/proc/%d/status" % pid
        self.conn = None
        self.how = None
        try:
            with open(self.path) as f:
                text = f.read()
            if re.search(r"^Name:\s*postgres\s*$", text, re.M):
                self.how = "direct"
                return
        except OSError:
            pass
        try:
            self.conn, self.cur = connect()
            self.cur.execute("SELECT pg_read_file(%s)", (self.path,))
            self.how = "pg_read_file"
        except psycopg2.Error:
            self.close()

    def read(self):
        """The status figures in kB, or None when they cannot be read."""
        try:
            if self.how == "direct":
                with open(self.path) as f:
                    return status_fields(f.read())
            if self.how == "pg_read_file":
                self.cur.execute("SELECT pg_read_file(%s)", (self.path,))
                return status_fields(self.cur.fetchone()[0])
        except (OSError, psycopg2.Error):
            pass    # the backend has exited
        return None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class PeakSampler:
    """Keeps the peaks of a backend's RssAnon and VmHWM while a statement runs.

    with PeakSampler(pid) as s: cur.execute(...)   then s.peak("RssAnon")
    A thread reads the status every SAMPLE_EVERY seconds (psycopg2 releases
    the GIL while it waits for the server); one read before and one after
    the statement bracket it.  A peak that lasts less than SAMPLE_EVERY can
    be missed.
    """

    def __init__(self, pid):
        self.status = ProcStatus(pid)
        self.peaks = {}
        self.samples = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def sample(self):
        fields = self.status.read()
        if fields is None:
            return
        self.samples += 1
        for name in ("RssAnon", "VmHWM", "VmRSS"):
            if name in fields:
                self.peaks[name] = max(self.peaks.get(name, 0), fields[name])

    def loop(self):
        while not self.stop.wait(SAMPLE_EVERY):
            self.sample()

    def peak(self, name):
        """The peak of a status figure in kB, or None."""
        return self.peaks.get(name)

    def __enter__(self):
        if self.status.how is not None:
            self.sample()
            self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.status.how is not None:
            self.stop.set()
            self.thread.join()
            self.sample()
        self.status.close()
        return False


def backend_pid(cur):
    cur.execute("SELECT pg_backend_pid()")
    return cur.fetchone()[0]


def baseline_kb():
    """RssAnon and VmHWM (kB) of a fresh backend after loading the library,
    and how they were read."""
    conn, cur = connect()
    cur.execute("LOAD '$libdir/estimator'")
    status = ProcStatus(backend_pid(cur))
    fields = status.read() or {}
    how = status.how
    status.close()
    conn.close()
    return fields.get("RssAnon"), fields.get("VmHWM"), how


def accuracy(model, source):
    conn, cur = connect()
    cur.execute("SELECT value FROM est_evaluate(%s, %s) WHERE metric = 'accuracy'",
                (model, source))
    acc = cur.fetchone()[0]
    conn.close()
    return acc


def loop_seconds(cur, model):
    """The training loop's time: the sum of the model's training_log intervals."""
    cur.execute("SELECT sum(seconds) FROM estimator.training_log WHERE model = %s", (model,))
    return cur.fetchone()[0]


def train_sampled(cur, sql):
    """Runs a training statement under a PeakSampler: (wall, rows, sampler)."""
    with PeakSampler(backend_pid(cur)) as sampler:
        wall, rows = timed(cur, sql)
    return wall, rows, sampler


def run_stream(r, notes, state, stream_kb, seed):
    """The stream case: (a)'s training under estimator.max_memory = stream_kb."""
    drop_model("bench_s")
    conn, cur = connect()
    cur.execute("LOAD '$libdir/estimator'")
    cur.execute("SET estimator.max_memory = '%dkB'" % stream_kb)
    try:
        _, rows, sampler = train_sampled(cur, train_sql("bench_s", seed))
    except psycopg2.Error as err:
        line = first_line(err)
        if "max_memory" in line:
            state["s_unsupported"] = line
        else:
            notes["s_error"] = line
    else:
        r["s_seconds"] = rows[0][0]
        r["s_rss_kb"] = sampler.peak("RssAnon")
    conn.close()
    if "s_seconds" in r:
        r["s_accuracy"] = accuracy("bench_s", "synth_test")


def run_ours(r, notes, state, have_table, stream_kb, seed):
    """One run of every case of ours, with seed: numbers go to r, texts to notes."""
    # (a): est_train, with the backend's memory sampled
    drop_model("bench_a")
    conn, cur = connect()
    wall, rows, sampler = train_sampled(cur, train_sql("bench_a", seed))
    r["a_seconds"], r["a_steps"], r["a_rows"] = rows[0]
    r["a_wall"] = wall
    r["a_rss_kb"] = sampler.peak("RssAnon")
    r["a_hwm_kb"] = sampler.peak("VmHWM")
    r["a_samples"] = sampler.samples
    notes["memory_how"] = sampler.status.how
    r["a_loop"] = loop_seconds(cur, "bench_a")
    cur.execute("SELECT n_classes FROM estimator.models WHERE name = 'bench_a'")
    r["a_classes"] = cur.fetchone()[0]
    conn.close()
    r["a_accuracy"] = accuracy("bench_a", "synth_test")

    # (e): the same training on two cores (one parallel worker and the leader)
    if state.get("e_unsupported") is None:
        drop_model("bench_e")
        conn, cur = connect()
        cur.execute("SET client_min_messages = log")
        conn.notices = []
        try:
            _, rows = timed(cur, train_sql("bench_e", seed, parallel_workers=1))
        except psycopg2.Error as err:
            line = first_line(err)
            if "parallel_workers" in line and re.search(
                    r"unrecognized|unknown|not supported", line, re.I):
                state["e_unsupported"] = line
            else:
                notes["e_error"] = line
        else:
            r["e_seconds"] = rows[0][0]
            r["e_loop"] = loop_seconds(cur, "bench_e")
        said = [n.strip() for n in conn.notices if not PROGRESS.match(n.strip())]
        notes.setdefault("e_said", [])
        notes["e_said"] += [n for n in said if n not in notes["e_said"]]
        conn.close()
        if "e_seconds" in r:
            r["e_accuracy"] = accuracy("bench_e", "synth_test")

    # stream: case (a)'s training with estimator.max_memory a quarter of the
    # float32 matrix (or what the model needs, when more)
    if not state.get("s_unsupported"):
        run_stream(r, notes, state, stream_kb, seed)

    # (b): Iris
    drop_model("bench_iris")
    conn, cur = connect()
    wall, rows = timed(cur, train_b(seed))
    r["b_seconds"], r["b_wall"] = rows[0][0], wall
    # The same training again in this session, as PyTorch's process trains
    # Iris after (a) and (c): the session has loaded the library and its
    # caches, and OpenBLAS has its buffers.
    cur.execute("SELECT est_drop_model('bench_iris')")
    wall, rows = timed(cur, train_b(seed))
    r["b_seconds_warm"] = rows[0][0]
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
    conn, cur = connect()
    r["c_write_floor"], _ = timed(cur, WRITE_FLOOR)
    cur.execute("DROP TABLE bench_pred")
    conn.close()
    conn, cur = connect()
    cur.execute("SET max_parallel_workers_per_gather = 0")
    r["a_scan_floor"], _ = timed(cur, SCAN_FLOOR)
    conn.close()

    # (d): est_predict_table, when the extension has it
    if have_table:
        conn, cur = connect()
        r["d_seconds"], rows = timed(cur, TABLE_D)
        r["d_rows"] = rows[0][0]
        conn.close()


def run_peer(python, seed):
    out = subprocess.run([python, os.path.join(HERE, "peer_torch.py"), str(seed)],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt_s(v):
    return "n/a" if v is None else "%.3f s" % v


def fmt_mb(kb):
    return "n/a" if kb is None else "%.1f MB" % (kb / 1024)


def fmt_pct(v):
    return "n/a" if v is None else "%.2f %%" % (100 * v)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def verdict(ok):
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def check_data():
    """Stops when synth_train does not have the shapes of the environment."""
    cols = one("SELECT count(*) FROM information_schema.columns WHERE table_name = "
               "'synth_train' AND table_schema = current_schema() "
               "AND column_name ~ '^x[0-9]+$'")[0]
    top = one("SELECT max(label) FROM synth_train")[0]
    if cols != N_FEATURES or top is None or top >= N_CLASSES:
        raise SystemExit("bench.py: synth_train has %d features and labels up to %s, but "
                         "BENCH_FEATURES is %d and BENCH_CLASSES %d; generate it again "
                         "with gen_data.py under the same settings"
                         % (cols, top, N_FEATURES, N_CLASSES))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sgemm-gflops", type=float, required=True)
    # the same products as the extension's core multiplies them (EstGemm)
    ap.add_argument("--core-gflops", type=float, default=None)
    # the faster of the two at Iris's shapes (batch 32), for (b)'s bound
    ap.add_argument("--iris-gflops", type=float, default=None)
    # the slower of two sgemm processes at once, on half batches: (e)'s bound
    ap.add_argument("--sgemm-pair-gflops", type=float, default=None)
    ap.add_argument("--blas-core", default="?")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()

    check_data()
    have_table = one("SELECT to_regprocedure('est_predict_table(text,text,text)') IS NOT NULL")[0]
    n_rows = one("SELECT count(*) FROM synth_train")[0]
    n_test = one("SELECT count(*) FROM synth_test")[0]
    matrix = n_rows * (N_FEATURES + 1) * 4
    n_params = sum(LAYERS[l] * LAYERS[l + 1] + LAYERS[l + 1] for l in range(len(LAYERS) - 1))
    model = n_params * 4 * 3        # weights, gradient, Adagrad accumulator
    # streaming: a quarter of the matrix, at least the setting's minimum
    # and twice what the model, its batch buffers and a buffer of 1024 rows
    # take (est_train's own estimate, TrainingBytes: weights, gradient and
    # slots; buffers of a 256-row batch for every layer, the inputs and the
    # logits; a transposed kernel; softmax's exponentials; the confusion
    # matrix), so that wide networks have room for a sample: est_train
    # gives the sample a quarter of the setting, and the shuffle buffer what
    # the model leaves of the other three quarters
    hidden = LAYERS[1:-1]
    model_need = (n_params * 2 * 5 * 4 + sum(hidden) * 256 * 6 * 4
                  + 256 * 2 * N_FEATURES * 4
                  + max([LAYERS[l] * LAYERS[l + 1] for l in range(1, len(LAYERS) - 1)] + [0]) * 4
                  + 256 * 2 * LAYERS[-1] * 4 + max(2048, LAYERS[-1]) * 8
                  + N_CLASSES * N_CLASSES * 8
                  + 1024 * (N_FEATURES + 1) * 4)
    stream_kb = max(1024, matrix // 4 // 1024, 2 * model_need // 1024 + 1)
    fits = stream_kb * 1024 >= matrix + model_need

    ours, peer, state, notes, base = [], [], {}, {}, []
    if fits:
        state["s_unsupported"] = ("the model's buffers take more than the matrix: a setting "
                                  "that holds them holds the source too")
    for i in range(args.runs):
        r = {}
        base.append(baseline_kb())
        run_ours(r, notes, state, have_table, stream_kb, i + 1)
        ours.append(r)
        peer.append(run_peer(args.python, i + 1))
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
    keys = set().union(*ours)
    O = {k: med(ours, k) for k in keys}
    P = {k: med(peer, k) for k in peer[0] if not isinstance(peer[0][k], str)}
    base_rss = med([{"v": b[0]} for b in base], "v")
    base_hwm = med([{"v": b[1]} for b in base], "v")

    # FLOPs of one row's training step: forward and weight gradient of every
    # layer, input gradient of every layer above the first (as sgemm.c)
    flops_per_row = 0
    for l in range(len(LAYERS) - 1):
        flops_per_row += 2 * LAYERS[l] * LAYERS[l + 1] * (2 if l == 0 else 3)
    flops = flops_per_row * n_rows

    def train_flops(layers):
        """FLOPs of one row's training step through layers (as sgemm.c)."""
        return sum(2 * layers[l] * layers[l + 1] * (2 if l == 0 else 3)
                   for l in range(len(layers) - 1))

    # What the machine allows: the case's FLOPs at the best rate measured
    # for its products (OpenBLAS's sgemm or the core's own kernel, the
    # faster), over PyTorch's time.  A ratio target below this bound cannot
    # be met at these shapes by either way of multiplying.
    best_gflops = max(args.sgemm_gflops, args.core_gflops or 0)
    iris_layers = [4] + LAYERS[1:-1] + [3]
    bound_a = flops / (best_gflops * 1e9)
    bound_b = 1000 * 32 * train_flops(iris_layers) / ((args.iris_gflops or best_gflops) * 1e9)
    forward_flops = sum(2 * LAYERS[l] * LAYERS[l + 1] for l in range(len(LAYERS) - 1))
    bound_d = n_rows * forward_flops / (best_gflops * 1e9)

    def gflops(seconds):
        return None if not seconds else flops / seconds / 1e9

    rows = []   # case, measure, ours, torch, ratio, target, verdict

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
    cmp("a", "bound: the epoch's FLOPs at the best product rate / torch compute",
        bound_a, P["a_train"], None)
    cmp("a", "train 1 epoch: est_train wall / torch fetch+train",
        O["a_wall"], P["a_e2e"], 0.10)
    cmp("a", "bound: a scan of synth_train in one backend (count(*)) + the FLOPs at "
        "the best product rate / torch fetch+train",
        O["a_scan_floor"] + bound_a, P["a_e2e"], None)
    diff = 100 * (O["a_accuracy"] - P["a_accuracy"])
    rows.append(("a", "accuracy on synth_test (%d rows)" % n_test,
                 fmt_pct(O["a_accuracy"]), fmt_pct(P["a_accuracy"]),
                 "%+.2f pt" % diff, "within 1 pt", verdict(abs(diff) <= 1.0)))
    loop_rate, torch_rate = gflops(O["a_loop"]), gflops(P["a_train"])
    if loop_rate is None:
        rows.append(("a", "arithmetic in the training loop (training_log), % of sgemm",
                     "n/a (no training_log)", "-", "n/a", ">= 60 %", "n/a"))
    else:
        pct = 100 * loop_rate / args.sgemm_gflops
        rows.append(("a", "arithmetic in the training loop (training_log), %% of sgemm %.1f GF/s"
                     % args.sgemm_gflops,
                     "%.2f GF/s %.1f%%" % (loop_rate, pct),
                     "%.2f GF/s %.1f%%" % (torch_rate, 100 * torch_rate / args.sgemm_gflops),
                     "%.3fx" % (loop_rate / torch_rate), ">= 60 %", verdict(pct >= 60)))
        if args.core_gflops:
            rows.append(("a", "arithmetic in the training loop, %% of the core's products "
                         "(EstGemm) %.1f GF/s" % args.core_gflops,
                         "%.1f%%" % (100 * loop_rate / args.core_gflops), "-", "-", "-", "-"))
    cmp("b", "Iris 1000 steps of 32: est_train seconds / torch compute",
        O["b_seconds"], P["b_train"], 0.05)
    cmp("b", "Iris 1000 steps of 32: est_train seconds, second call in the session "
        "(PyTorch's process is warm too) / torch compute",
        O["b_seconds_warm"], P["b_train"], None)
    cmp("b", "Iris 1000 steps of 32: est_train wall / torch fetch+train",
        O["b_wall"], P["b_e2e"], None)
    cmp("b", "bound: the 1000 steps' FLOPs at the best product rate (batch 32) / torch compute",
        bound_b, P["b_train"], None)
    rows.append(("b", "accuracy on iris_test (30 rows)",
                 fmt_pct(O["b_accuracy"]), fmt_pct(P["b_accuracy"]),
                 "%+.2f pt" % (100 * (O["b_accuracy"] - P["b_accuracy"])), "-", "-"))
    q = ratio(O["c_select"], P["c_score_e2e"])
    rows.append(("c", "score %d rows: SELECT count(*) WHERE est_predict / torch fetch+score" % n_rows,
                 fmt_s(O["c_select"]), fmt_s(P["c_score_e2e"]), "%.3fx" % q,
                 "<= 2.5 s", verdict(O["c_select"] <= 2.5)))
    cmp("c", "score+write %d rows: CREATE TABLE AS est_predict / torch fetch+score+COPY" % n_rows,
        O["c_write"], P["c_e2e"], 0.10)
    cmp("c", "bound: the same CREATE TABLE AS with a constant, no model / torch "
        "fetch+score+COPY", O["c_write_floor"], P["c_e2e"], None)
    if have_table:
        q = ratio(O["d_seconds"], P["c_score_e2e"])
        rows.append(("d", "est_predict_table %d rows / torch fetch+score" % n_rows,
                     fmt_s(O["d_seconds"]), fmt_s(P["c_score_e2e"]), "%.3fx" % q,
                     "<= 1.0 s", verdict(O["d_seconds"] <= 1.0)))
    else:
        rows.append(("d", "est_predict_table(text,text,text)", "n/a (absent)",
                     fmt_s(P["c_score_e2e"]), "n/a", "<= 1.0 s", "n/a"))
    rows.append(("d", "bound: the %d rows' forward FLOPs at the best product rate (1 core)" % n_rows,
                 fmt_s(bound_d), "-", "-", "-", "-"))

    # (e): two cores
    e_what = "2 cores (parallel_workers 1): speedup (a) seconds / (e) seconds"
    fell_back = [n for n in notes.get("e_said", []) if FALLBACK.search(n)]
    if state.get("e_unsupported"):
        rows.append(("e", e_what, "n/a (not supported)", "-", "n/a", ">= 1.60x", "n/a"))
    elif O.get("e_seconds") is None:
        rows.append(("e", e_what, "error (see below)", "-", "n/a", ">= 1.60x", "MISS"))
    else:
        speedup = O["a_seconds"] / O["e_seconds"]
        rows.append(("e", e_what, fmt_s(O["e_seconds"]) +
                     (" (fell back, see below)" if fell_back else ""),
                     "-", "%.2fx" % speedup, ">= 1.60x", verdict(speedup >= 1.6)))
        if args.sgemm_pair_gflops:
            # both members' products at the slower one's rate, against one
            # backend's at the full batch's rate
            rows.append(("e", "bound: 2 x the slower of two products at once (half batch) / one alone",
                         "%.1f GF/s" % args.sgemm_pair_gflops, "-",
                         "%.2fx" % (2 * args.sgemm_pair_gflops / best_gflops),
                         "-", "-"))
        diff = 100 * (O["e_accuracy"] - O["a_accuracy"])
        rows.append(("e", "2 cores: accuracy on synth_test vs (a)",
                     fmt_pct(O["e_accuracy"]), "-", "%+.2f pt" % diff,
                     "within 1 pt of (a)", verdict(abs(diff) <= 1.0)))

    # memory of (a): private memory over a fresh backend's
    budget = 1.5 * (matrix + model)
    m_what = ("peak private memory in (a): RssAnon - fresh backend's / "
              "float32 matrix+model %.1f MB" % ((matrix + model) / 2**20))
    if O.get("a_rss_kb") is None or base_rss is None:
        rows.append(("mem", m_what, "n/a (unreadable)", "-", "n/a", "<= 1.50x", "n/a"))
    else:
        priv = (O["a_rss_kb"] - base_rss) * 1024
        rows.append(("mem", m_what, "%.1f MB" % (priv / 2**20), "-",
                     "%.2fx" % (priv / (matrix + model)), "<= 1.50x",
                     verdict(priv <= budget)))

    # streaming: a source larger than estimator.max_memory
    limit = stream_kb * 1024 + STREAM_ALLOWANCE + model
    s_what = "stream: 1 epoch with estimator.max_memory = %d kB (%s)" % (
        stream_kb, "matrix / 4" if stream_kb * 1024 <= matrix // 4 else
        "twice the model's buffers; matrix / 4 is %d kB" % (matrix // 4 // 1024))
    s_mem = ("stream: peak private memory (RssAnon - fresh backend's) vs max_memory "
             "+ %d MB + model" % (STREAM_ALLOWANCE // 2**20))
    if state.get("s_unsupported"):
        rows.append(("mem", s_what, "n/a: " + state["s_unsupported"], "-", "n/a", "-", "n/a"))
        rows.append(("mem", s_mem, "n/a", "-", "n/a", "<= %.1f MB" % (limit / 2**20), "n/a"))
    elif O.get("s_seconds") is None:
        rows.append(("mem", s_what, "error (see below)", "-", "n/a", "-", "MISS"))
    else:
        rows.append(("mem", s_what, fmt_s(O["s_seconds"]), "-",
                     "%.3fx (a)" % (O["s_seconds"] / O["a_seconds"]), "-", "-"))
        rows.append(("mem", "stream: accuracy on synth_test vs (a)", fmt_pct(O["s_accuracy"]),
                     "-", "%+.2f pt" % (100 * (O["s_accuracy"] - O["a_accuracy"])), "-", "-"))
        if O.get("s_rss_kb") is None or base_rss is None:
            rows.append(("mem", s_mem, "n/a (unreadable)", "-", "n/a",
                         "<= %.1f MB" % (limit / 2**20), "n/a"))
        else:
            priv = (O["s_rss_kb"] - base_rss) * 1024
            rows.append(("mem", s_mem, "%.1f MB" % (priv / 2**20), "-",
                         "%.2fx max_memory" % (priv / (stream_kb * 1024)),
                         "<= %.1f MB" % (limit / 2**20), verdict(priv <= limit)))

    head = ("case", "measure", "ours", "PyTorch", "ratio", "target", "verdict")
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    print()
    print("estimator benchmark: synth_train %d rows x %d features, %d classes, synth_test %d "
          "rows; DNN %s; medians of %d runs, run k with seed k on both sides"
          % (n_rows, N_FEATURES, N_CLASSES, n_test, hidden_units(), args.runs))
    print("PyTorch %s, %s thread, %s OpenBLAS thread; OpenBLAS's %s kernels%s; sgemm at "
          "the batch-256 shapes of %s (forward, weight and input gradients, FLOP-weighted): "
          "%.1f GFLOP/s (1 thread); %d FLOPs per row per training step"
          % (peer[0]["torch"], peer[0]["threads"], peer[0].get("blas_threads"),
             args.blas_core, (" (OPENBLAS_CORETYPE=%s)" % os.environ["OPENBLAS_CORETYPE"]
                              if os.environ.get("OPENBLAS_CORETYPE") else ""),
             describe(), args.sgemm_gflops, flops_per_row))
    if args.core_gflops:
        print("the same products as the core multiplies them (EstGemm: its own AVX-512 "
              "kernel where the CPU has one, else OpenBLAS): %.1f GFLOP/s; the bounds use "
              "the faster rate%s"
              % (args.core_gflops, "" if not args.iris_gflops else
                 ", at Iris's batch-32 shapes %.1f GFLOP/s" % args.iris_gflops))
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
    print("(a) arithmetic over est_train's whole seconds (reading the source included): "
          "%.2f GFLOP/s, %.1f %% of sgemm"
          % (gflops(O["a_seconds"]), 100 * gflops(O["a_seconds"]) / args.sgemm_gflops))
    print("memory: matrix = rows x (%d features + label) x 4 bytes, model = %d parameters x 3 "
          "(weights, gradient, Adagrad accumulator) x 4 bytes; RssAnon read %s every %d ms "
          "(%s samples in (a)); a fresh backend after LOAD: RssAnon %s, VmHWM %s"
          % (N_FEATURES, n_params, notes.get("memory_how") or "nowhere",
             SAMPLE_EVERY * 1000, "n/a" if O.get("a_samples") is None else "%d" % O["a_samples"],
             fmt_mb(base_rss), fmt_mb(base_hwm)))
    print("memory, for reference: peak VmHWM (counts the shared_buffers pages it touched) of "
          "(a)'s backend %s; PyTorch's process VmHWM %s"
          % (fmt_mb(O.get("a_hwm_kb")), fmt_mb(P["vm_hwm_kb"])))
    if state.get("e_unsupported"):
        print("(e): est_train refused parallel_workers: %s" % state["e_unsupported"])
    if notes.get("e_error"):
        print("(e): est_train failed: %s" % notes["e_error"])
    if O.get("e_loop") and O.get("a_loop"):
        print("(e) training loop alone (training_log): %.3f s, (a)'s %.3f s: %.2fx"
              % (O["e_loop"], O["a_loop"], O["a_loop"] / O["e_loop"]))
    for n in notes.get("e_said", []):
        print("(e): the server said: %s" % n)
    if notes.get("s_error"):
        print("stream: est_train failed: %s" % notes["s_error"])
    if O["a_classes"] != N_CLASSES:
        print("note: bench_a has %d classes, BENCH_CLASSES is %d (a class the teacher never "
              "gives?)" % (O["a_classes"], N_CLASSES))
    verdicts = [x[6] for x in rows]
    print("%d PASS, %d MISS, %d n/a" % (verdicts.count("PASS"), verdicts.count("MISS"),
                                        verdicts.count("n/a")))
    if n_rows != FULL_ROWS:
        print("note: the targets are for %d rows; at %d rows the verdicts are only indicative"
              % (FULL_ROWS, n_rows))


if __name__ == "__main__":
    main()
