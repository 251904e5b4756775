"""pgcopy.py: PostgreSQL's binary COPY format to and from numpy arrays.

Used by the benchmark's data generator and its PyTorch peer, so that moving
rows between the server and Python costs what the fastest client would pay
(no per-row Python objects).  Every column must be NOT NULL and of a
fixed-width type: int4, int8, float4, float8.
"""
import io

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
TYPES = {"int4": ">i4", "int8": ">i8", "float4": ">f4", "float8": ">f8"}


def row_dtype(columns):
    """The packed big-endian dtype of one binary COPY tuple.

    columns: list of (name, type) with type a key of TYPES.
    """
    fields = [("_n", ">i2")]
    for name, typ in columns:
        dt = np.dtype(TYPES[typ])
        fields.append(("_len_" + name, ">i4"))
        fields.append((name, dt))
    return np.dtype(fields)


def encode(columns, arrays):
    """Bytes of a binary COPY stream; arrays maps each column to a 1-D array."""
    n = len(next(iter(arrays.values())))
    rec = np.empty(n, dtype=row_dtype(columns))
    rec["_n"] = len(columns)
    for name, typ in columns:
        rec["_len_" + name] = np.dtype(TYPES[typ]).itemsize
        rec[name] = arrays[name]
    return HEADER + rec.tobytes() + TRAILER


def decode(columns, data):
    """The structured array of a binary COPY stream of these columns."""
    if not data.startswith(SIGNATURE):
        raise ValueError("not a binary COPY stream")
    ext = int.from_bytes(data[15:19], "big")
    start = 19 + ext
    dt = row_dtype(columns)
    body = len(data) - start - len(TRAILER)
    if body % dt.itemsize:
        raise ValueError("binary COPY stream does not match the columns")
    return np.frombuffer(data, dtype=dt, count=body // dt.itemsize, offset=start)


def copy_out(cur, query, columns):
    """Run COPY (query) TO STDOUT (FORMAT binary) and decode it."""
    buf = io.BytesIO()
    cur.copy_expert("COPY (%s) TO STDOUT (FORMAT binary)" % query, buf)
    return decode(columns, buf.getbuffer().tobytes())


def copy_in(cur, table, columns, arrays):
    """COPY table (columns) FROM STDIN (FORMAT binary) from numpy arrays."""
    names = ", ".join(name for name, _ in columns)
    cur.copy_expert("COPY %s (%s) FROM STDIN (FORMAT binary)" % (table, names),
                    io.BytesIO(encode(columns, arrays)))


def matrix(rec, names, dtype=np.float32):
    """Stack the named fields of a decoded array into a C-contiguous matrix."""
    out = np.empty((len(rec), len(names)), dtype=dtype)
    for j, name in enumerate(names):
        out[:, j] = rec[name]
    return out
