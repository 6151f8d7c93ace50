#!/usr/bin/env python3
"""What each part of the library's SQLite insert triggers costs, per row.

Takes the triggers `sequences-bench` installed on `bench_db_invoice` in its
SQLite file (SOURCE: a copy of it taken while the benchmark runs, whose
temporary directory follows TMPDIR), builds five tables in a new file, each
with fewer of the triggers, and times one `INSERT .. SELECT` of N rows into
each, in turn, R times (WAL, synchronous=FULL, as the benchmark):

  s1  the library's triggers as installed
  s2  without the guards against a REPLACE (the BEFORE INSERT/UPDATE triggers
      that note the row a REPLACE deletes, and the AFTER triggers that refuse it)
  s3  and without the update guard (the AFTER UPDATE trigger that the
      numbering UPDATE fires, and the mark that lets it through)
  s4  and without the refusal read (closed, date order, end of range)
  s5  the hand trigger of the benchmark

Usage: sqlite.py SOURCE [N] [R]. s2 to s4 are not safe: they exist to be timed.
"""
import os, sqlite3, sys, tempfile, time

source = sqlite3.connect(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
R = int(sys.argv[3]) if len(sys.argv) > 3 else 3
triggers = dict(source.execute(
    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'bench_db_invoice'"))
hand = source.execute("SELECT sql FROM sqlite_master WHERE name = 'bench_hand_number'").fetchone()[0]
tables = [r[0] for r in source.execute(
    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name IN ('sequences', 'sequences_replaced')")]
body = lambda suffix: triggers["sq_bench_db_invoice_number_" + suffix]
ins = body("ins")
mark = [l + "\n" for l in ins.split("\n") if '"sequences_replaced"' in l and "'number'" in l]
refusal = [l + "\n" for l in ins.split("\n") if l.startswith("  SELECT json_extract('{}', CASE r.")]
assert len(mark) == 2 and len(refusal) == 1, "the triggers changed: update this script"
bare = ins
for l in mark:
    bare = bare.replace(l, "")
variants = {
    "s1": [body(s) for s in ["ins", "del", "rep", "set", "rpu", "upd", "upn"]],
    "s2": [body(s) for s in ["ins", "del", "upd"]],
    "s3": [bare, body("del")],
    "s4": [bare.replace(refusal[0], ""), body("del")],
    "s5": [hand.replace("bench_hand_db_invoice", "bench_db_invoice").replace("'bench-hand-db-'", "'bench-db-'")],
}
path = os.path.join(tempfile.mkdtemp(), "guards.db")
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode = WAL")
db.execute("PRAGMA synchronous = FULL")
for t in tables:
    db.execute(t)
for v, bodies in variants.items():
    db.execute(f'CREATE TABLE "{v}" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "series" VARCHAR NOT NULL, '
               '"number" INTEGER, "amount_cents" INTEGER NOT NULL)')
    for b in bodies:
        db.execute(b.replace("bench_db_invoice", v).replace("'bench-db-'", f"'{v}-'"))
times = {v: [] for v in variants}
for r in range(R):
    for v in variants:
        started = time.perf_counter()
        db.execute("BEGIN")
        db.execute(f"WITH RECURSIVE g(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM g WHERE k < {N}) "
                   f"INSERT INTO \"{v}\" (series, amount_cents) SELECT 'r{r}', k FROM g")
        db.execute("COMMIT")
        times[v].append((time.perf_counter() - started) * 1e6 / N)
for v in variants:
    check = db.execute(f"SELECT COUNT(DISTINCT number), MIN(number), MAX(number) FROM \"{v}\" WHERE series = 'r0'").fetchone()
    median = sorted(times[v])[len(times[v]) // 2]
    print(f"{v}: median {median:.1f} ({' / '.join(f'{t:.1f}' for t in times[v])}) us per row ({N} rows; distinct, min, max: {check})")
os.remove(path)
