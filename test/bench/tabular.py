"""tabular.py: estimator's inferred feature columns against scikit-learn.

    tabular.py [--sets a,b,...] [--keep]   (connection from PGHOST, PGPORT, ...)

Generates five synthetic mixed tables (numpy's PCG64, fixed seeds, so the
same rows every time), loads each into PostgreSQL with real column types
(double precision, integer, text, boolean, an enum, real[], text[]; NULLs
as SQL NULL), splits it 75/25 by row order into <set>_train and <set>_test,
and then:

- estimator: the one-liner
      est_train('tab_<set>', '<set>_train', label => '<label>',
                params => '{"seed": 1}')
  with every other argument left at its default, scored by est_evaluate on
  <set>_test;
- scikit-learn on the same rows fetched back from the tables: a
  ColumnTransformer (numbers and numeric array elements: mean imputation and
  StandardScaler; text, enums and booleans: a constant "missing" category
  and OneHotEncoder(handle_unknown='ignore'); text arrays: multi-hot counts)
  before LogisticRegression(max_iter=1000), MLPClassifier((10, 10),
  random_state=1, max_iter=500) and, for reference,
  HistGradientBoostingClassifier(random_state=1) on the same encoding.

Prints one table of test accuracies, with estimator minus the better of
logistic regression and MLP in points, the accuracy of the generating rule
without its noise (the best a model can expect), and estimator's training
time (the seconds column of est_train).  The data sets:

  logistic      a logistic rule over every column kind, label noise, 5 % NULLs
  interactions  city x member and age bucket x plan, zero marginal effects
  multiclass    4 named classes; lognormal income, text, enum, real[4]
  users         500 user ids with a per-user effect (hashed embedding)
  nulls         25 % NULLs in numbers, text, booleans and array elements
"""
import argparse
import sys
import time
import warnings

import numpy as np
import psycopg2
import psycopg2.extras

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

SEED = 20240611
CITIES = ["paris", "oslo", "lima", "kyiv", "quito", "bern"]
PLANS = ["basic", "plus", "pro"]


def rng_for(stream):
    return np.random.Generator(np.random.PCG64([SEED, stream]))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def with_nulls(rng, values, share):
    """Return values as a list of objects with a share of them None."""
    mask = rng.random(len(values)) < share
    return [None if m else v for v, m in zip(values.tolist(), mask)]


def tags_of(rng, n, pool, per_row):
    """Return n lists of per_row tags drawn from pool (repeats allowed)."""
    idx = rng.integers(0, len(pool), size=(n, per_row))
    return [[pool[j] for j in row] for row in idx], idx


# Each generator returns (columns, label, rows, rule): columns is a list of
# (name, SQL type, kind) where kind is num, cat, numarr or textarr, rows a
# dict of column name -> list of Python values (None for NULL), and rule the
# label that the generating rule gives without noise, from the values before
# any were made NULL: its accuracy bounds what a model can reach.

def gen_logistic(n=6000):
    """A logistic rule over every column kind, as sql/features_inferred.sql."""
    rng = rng_for(1)
    income = np.round(np.exp(9 + 4 * rng.random(n)))
    age = rng.integers(18, 80, size=n)
    city = rng.integers(0, 6, size=n)
    member = rng.random(n) < 0.5
    plan = rng.integers(0, 3, size=n)
    scores = rng.random((n, 2))
    tags, tag_idx = tags_of(rng, n, ["t0", "t1", "t2", "t3"], 2)
    noise = rng.logistic(size=n)
    z = (1.5 * (np.log(income) - 11) - 0.08 * (age - 49)
         + np.array([1.5, -1.5, 1.0, 0, 0, 0])[city]
         + np.where(member, 1.0, -1.0)
         + np.array([-1.0, 0, 1.0])[plan]
         + 3 * (scores[:, 0] - 0.5)
         + (tag_idx == 0).any(axis=1))
    rule = np.where(z > 0, "churn", "stay")
    label = np.where(z + 0.45 * noise > 0, "churn", "stay")
    rows = {
        "income": with_nulls(rng, income, 0.05),
        "age": age.tolist(),
        "city": with_nulls(rng, np.array(CITIES, dtype=object)[city], 0.05),
        "member": with_nulls(rng, member, 0.05),
        "plan": [PLANS[p] for p in plan],
        "scores": scores.round(4).tolist(),
        "tags": tags,
        "outcome": label.tolist(),
    }
    cols = [("income", "double precision", "num"), ("age", "integer", "num"),
            ("city", "text", "cat"), ("member", "boolean", "cat"),
            ("plan", "tab_plan", "cat"), ("scores", "real[]", "numarr"),
            ("tags", "text[]", "textarr")]
    return cols, ("outcome", "text"), rows, rule


def gen_interactions(n=8000):
    """Two interactions with no marginal effect, plus weak linear terms."""
    rng = rng_for(2)
    city = rng.integers(0, 6, size=n)
    member = rng.random(n) < 0.5
    age = rng.integers(18, 80, size=n)
    plan = rng.integers(0, 3, size=n)
    tenure = rng.integers(0, 3651, size=n)
    spend = np.round(rng.uniform(10, 500, size=n), 2)
    # city x member: each city favours members or non-members
    city_sign = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    inter1 = 1.6 * city_sign[city] * np.where(member, 1.0, -1.0)
    # age bucket x plan: rows and columns sum to zero
    bucket = np.digitize(age, [30, 45, 60])
    table = np.array([[1.0, 0.0, -1.0],
                      [-1.0, 0.0, 1.0],
                      [1.0, 0.0, -1.0],
                      [-1.0, 0.0, 1.0]])
    inter2 = 2.0 * table[bucket, plan]
    z = (inter1 + inter2 + 0.0003 * (tenure - 1825)
         + 0.002 * (spend - 255))
    rule = np.where(z > 0, "buy", "skip")
    label = np.where(z + rng.logistic(size=n) * 0.5 > 0, "buy", "skip")
    rows = {
        "city": np.array(CITIES, dtype=object)[city].tolist(),
        "member": member.tolist(),
        "age": age.tolist(),
        "plan": [PLANS[p] for p in plan],
        "tenure_days": tenure.tolist(),
        "monthly_spend": spend.tolist(),
        "decision": label.tolist(),
    }
    cols = [("city", "text", "cat"), ("member", "boolean", "cat"),
            ("age", "integer", "num"), ("plan", "tab_plan", "cat"),
            ("tenure_days", "integer", "num"),
            ("monthly_spend", "double precision", "num")]
    return cols, ("decision", "text"), rows, rule


def gen_multiclass(n=8000):
    """Four named classes from a softmax of log income, text, enum, array."""
    rng = rng_for(3)
    income = np.round(np.exp(rng.normal(10.5, 0.9, size=n)), 2)
    segments = ["retail", "smb", "enterprise", "public", "nonprofit"]
    segment = rng.integers(0, 5, size=n)
    channel = rng.integers(0, 3, size=n)
    visits = rng.poisson(4, size=n)
    readings = rng.normal(0, 1, size=(n, 4)) * np.array([1, 10, 100, 0.1])
    k = 4
    w_income = np.array([-2.0, -0.5, 0.7, 1.8])
    w_segment = rng.normal(0, 1.2, size=(5, k))
    w_channel = rng.normal(0, 0.8, size=(3, k))
    w_visits = np.array([0.3, 0.1, -0.1, -0.3])
    w_read = rng.normal(0, 0.8, size=(4, k))
    logits = (np.outer((np.log(income) - 10.5) / 0.9, w_income)
              + w_segment[segment] + w_channel[channel]
              + np.outer(visits - 4, w_visits)
              + (readings / np.array([1, 10, 100, 0.1])) @ w_read)
    names = np.array(["bronze", "silver", "gold", "platinum"], dtype=object)
    rule = names[np.argmax(logits, axis=1)]
    label = names[np.argmax(logits + rng.gumbel(size=(n, k)) * 0.6, axis=1)]
    rows = {
        "income": income.tolist(),
        "segment": np.array(segments, dtype=object)[segment].tolist(),
        "channel": np.array(["web", "store", "phone"], dtype=object)[channel].tolist(),
        "visits": visits.tolist(),
        "readings": readings.round(4).tolist(),
        "tier": label.tolist(),
    }
    cols = [("income", "double precision", "num"), ("segment", "text", "cat"),
            ("channel", "tab_channel", "cat"), ("visits", "integer", "num"),
            ("readings", "real[]", "numarr")]
    return cols, ("tier", "text"), rows, rule


def gen_users(n=10000):
    """500 user ids with a per-user effect, plus amount, hour and device."""
    rng = rng_for(4)
    users = 500
    effect = rng.normal(0, 1.5, size=users)
    user = rng.integers(0, users, size=n)
    amount = np.round(np.exp(rng.normal(4, 1.2, size=n)), 2)
    hour = rng.integers(0, 24, size=n)
    device = rng.integers(0, 3, size=n)
    z = (effect[user] + 0.8 * (np.log(amount) - 4)
         + 1.0 * np.cos(2 * np.pi * hour / 24)
         + np.array([0.5, 0.0, -0.5])[device])
    rule = z > 0
    z = z + rng.logistic(size=n) * 0.5
    rows = {
        "user_id": ["u%04d" % u for u in user],
        "amount": amount.tolist(),
        "hour": hour.tolist(),
        "device": np.array(["ios", "android", "web"], dtype=object)[device].tolist(),
        "flagged": (z > 0).tolist(),
    }
    cols = [("user_id", "text", "cat"), ("amount", "double precision", "num"),
            ("hour", "integer", "num"), ("device", "text", "cat")]
    return cols, ("flagged", "boolean"), rows, rule


def gen_nulls(n=6000):
    """A linear rule whose inputs are NULL a quarter of the time."""
    rng = rng_for(5)
    balance = np.round(rng.normal(5000, 3000, size=n), 2)
    debt_ratio = rng.beta(2, 5, size=n)
    years = rng.integers(0, 40, size=n)
    region = rng.integers(0, 4, size=n)
    job = rng.integers(0, 6, size=n)
    owner = rng.random(n) < 0.4
    history = rng.normal(0, 1, size=(n, 3))
    flags, flag_idx = tags_of(rng, n, ["late", "new", "vip", "moved", "none"], 2)
    z = (0.0004 * (balance - 5000) - 6 * (debt_ratio - 0.29)
         + 0.06 * (years - 20)
         + np.array([0.8, -0.8, 0.4, -0.4])[region]
         + np.array([1.0, 0.5, 0.0, -0.5, -1.0, 0.0])[job]
         + np.where(owner, 0.8, -0.8)
         + history @ np.array([0.8, -0.6, 0.4])
         - 0.8 * (flag_idx == 0).any(axis=1) + 0.8 * (flag_idx == 2).any(axis=1))
    rule = np.where(z > 0, "approved", "denied")
    label = np.where(z + rng.logistic(size=n) * 0.4 > 0, "approved", "denied")
    hist = history.round(4).tolist()
    hist_mask = rng.random((n, 3)) < 0.2
    for i in range(n):
        for j in range(3):
            if hist_mask[i, j]:
                hist[i][j] = None
    rows = {
        "balance": with_nulls(rng, balance, 0.25),
        "debt_ratio": with_nulls(rng, debt_ratio.round(4), 0.25),
        "years": with_nulls(rng, years, 0.25),
        "region": with_nulls(rng, np.array(["north", "south", "east", "west"], dtype=object)[region], 0.25),
        "job": with_nulls(rng, np.array(["nurse", "clerk", "driver", "cook", "student", "other"], dtype=object)[job], 0.25),
        "owner": with_nulls(rng, owner, 0.25),
        "history": hist,
        "flags": flags,
        "decision": label.tolist(),
    }
    cols = [("balance", "double precision", "num"),
            ("debt_ratio", "double precision", "num"),
            ("years", "integer", "num"), ("region", "text", "cat"),
            ("job", "text", "cat"), ("owner", "boolean", "cat"),
            ("history", "real[]", "numarr"), ("flags", "text[]", "textarr")]
    return cols, ("decision", "text"), rows, rule


SETS = [("logistic", gen_logistic), ("interactions", gen_interactions),
        ("multiclass", gen_multiclass), ("users", gen_users),
        ("nulls", gen_nulls)]


def load(cur, name, cols, label, rows):
    """Create <name>_train and <name>_test and fill them 75/25 by row order."""
    names = [c[0] for c in cols] + [label[0]]
    types = [c[1] for c in cols] + [label[1]]
    n = len(rows[label[0]])
    cut = n * 3 // 4
    tuples = list(zip(*(rows[c] for c in names)))
    for table, part in (("%s_train" % name, tuples[:cut]),
                        ("%s_test" % name, tuples[cut:])):
        cur.execute("DROP TABLE IF EXISTS %s" % table)
        cur.execute("CREATE TABLE %s (%s)" % (
            table, ", ".join("%s %s" % ct for ct in zip(names, types))))
        psycopg2.extras.execute_values(
            cur, "INSERT INTO %s (%s) VALUES %%s" % (table, ", ".join(names)),
            part, page_size=1000)
    return cut, n - cut


def fetch(cur, table, cols, label):
    """Read a table back: a list of columns (object arrays) and the labels."""
    names = [c[0] for c in cols]
    cur.execute("SELECT %s, %s FROM %s" % (", ".join(names), label[0], table))
    data = cur.fetchall()
    columns = [[r[j] for r in data] for j in range(len(names))]
    return columns, np.array([str(r[-1]) for r in data], dtype=object)


def design(columns, cols):
    """Turn fetched columns into an object matrix and a ColumnTransformer.

    Numeric arrays become one column per element (their length taken from
    the first non-NULL array), text arrays stay lists for a CountVectorizer.
    """
    out, num_idx, cat_idx, arr_idx = [], [], [], []
    for values, (name, _, kind) in zip(columns, cols):
        if kind == "num":
            num_idx.append(len(out))
            out.append([np.nan if v is None else float(v) for v in values])
        elif kind == "cat":
            cat_idx.append(len(out))
            out.append(["(null)" if v is None else str(v) for v in values])
        elif kind == "numarr":
            width = len(next(v for v in values if v is not None))
            for j in range(width):
                num_idx.append(len(out))
                out.append([np.nan if v is None or v[j] is None else float(v[j])
                            for v in values])
        elif kind == "textarr":
            arr_idx.append(len(out))
            out.append([[] if v is None else [t for t in v if t is not None]
                        for v in values])
    matrix = np.empty((len(columns[0]), len(out)), dtype=object)
    for j, col in enumerate(out):
        for i, v in enumerate(col):
            matrix[i, j] = v
    parts = []
    if num_idx:
        parts.append(("num", make_pipeline(SimpleImputer(strategy="mean"),
                                           StandardScaler()), num_idx))
    if cat_idx:
        parts.append(("cat", make_pipeline(
            SimpleImputer(strategy="constant", fill_value="(null)"),
            OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            cat_idx))
    for j in arr_idx:
        parts.append(("arr%d" % j, CountVectorizer(analyzer=list_analyzer,
                                                   lowercase=False), j))
    return matrix, parts


def list_analyzer(values):
    return values


def dense(x):
    return x.toarray() if hasattr(x, "toarray") else np.asarray(x)


def sklearn_scores(cur, name, cols, label):
    train_cols, y_train = fetch(cur, "%s_train" % name, cols, label)
    test_cols, y_test = fetch(cur, "%s_test" % name, cols, label)
    x_train, parts = design(train_cols, cols)
    x_test, _ = design(test_cols, cols)
    ct = ColumnTransformer(parts, sparse_threshold=0)
    z_train = dense(ct.fit_transform(x_train)).astype(np.float64)
    z_test = dense(ct.transform(x_test)).astype(np.float64)
    models = [
        ("logreg", LogisticRegression(max_iter=1000)),
        ("mlp", MLPClassifier(hidden_layer_sizes=(10, 10), random_state=1,
                              max_iter=500)),
        ("hgb", HistGradientBoostingClassifier(random_state=1)),
    ]
    scores, seconds = {}, {}
    for key, model in models:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(z_train, y_train)
        scores[key] = float(np.mean(model.predict(z_test) == y_test))
        seconds[key] = time.perf_counter() - start
    return scores, seconds, z_train.shape[1]


def estimator_score(cur, name, label):
    model = "tab_%s" % name
    cur.execute("SELECT count(*) FROM estimator.models WHERE name = %s", (model,))
    if cur.fetchone()[0]:
        cur.execute("SELECT est_drop_model(%s)", (model,))
    cur.execute("SELECT global_step, seconds FROM est_train(%s, %s, label => %s,"
                " params => '{\"seed\": 1}')",
                (model, "%s_train" % name, label[0]))
    steps, seconds = cur.fetchone()
    cur.execute("SELECT value FROM est_evaluate(%s, %s) WHERE metric = 'accuracy'",
                (model, "%s_test" % name))
    accuracy = cur.fetchone()[0]
    cur.execute("SELECT input_width FROM estimator.models WHERE name = %s",
                (model,))
    width = cur.fetchone()[0]
    return accuracy, seconds, steps, width


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", default=",".join(s for s, _ in SETS))
    parser.add_argument("--keep", action="store_true",
                        help="keep the tables and models")
    args = parser.parse_args()
    chosen = args.sets.split(",")
    unknown = set(chosen) - {s for s, _ in SETS}
    if unknown:
        sys.exit("unknown data sets: %s" % ", ".join(sorted(unknown)))

    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("DROP TYPE IF EXISTS tab_plan CASCADE")
    cur.execute("CREATE TYPE tab_plan AS ENUM ('basic', 'plus', 'pro')")
    cur.execute("DROP TYPE IF EXISTS tab_channel CASCADE")
    cur.execute("CREATE TYPE tab_channel AS ENUM ('web', 'store', 'phone')")

    results = []
    for name, gen in SETS:
        if name not in chosen:
            continue
        cols, label, rows, rule = gen()
        n_train, n_test = load(cur, name, cols, label, rows)
        bound = float(np.mean([str(a) == str(b) for a, b in
                               zip(rule[n_train:], rows[label[0]][n_train:])]))
        est_acc, est_sec, steps, width = estimator_score(cur, name, label)
        sk, sk_sec, sk_width = sklearn_scores(cur, name, cols, label)
        results.append((name, n_train, n_test, est_acc, sk, est_sec, bound))
        print("%s: estimator %.4f in %.2f s (%d steps, %d inputs); logreg %.4f,"
              " MLP %.4f (%.1f s), HGB %.4f (%d inputs)"
              % (name, est_acc, est_sec, steps, width, sk["logreg"], sk["mlp"],
                 sk_sec["mlp"], sk["hgb"], sk_width),
              file=sys.stderr, flush=True)
        if not args.keep:
            cur.execute("SELECT est_drop_model(%s)", ("tab_%s" % name,))

    print()
    header = ("| data set | train / test rows | estimator | sklearn logreg"
              " | sklearn MLP (10,10) | sklearn HGB | est - best(logreg, MLP)"
              " | noise-free rule | est_train seconds |")
    print(header)
    print("|" + "---|" * 9)
    for (name, n_train, n_test, est_acc, sk, est_sec, bound) in results:
        best = max(sk["logreg"], sk["mlp"])
        print("| %s | %d / %d | %.2f %% | %.2f %% | %.2f %% | %.2f %% | %+.2f"
              " | %.2f %% | %.2f |"
              % (name, n_train, n_test, 100 * est_acc, 100 * sk["logreg"],
                 100 * sk["mlp"], 100 * sk["hgb"], 100 * (est_acc - best),
                 100 * bound, est_sec))
    conn.close()


if __name__ == "__main__":
    main()
