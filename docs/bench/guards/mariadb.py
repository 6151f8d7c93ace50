#!/usr/bin/env python3
"""What each part of the library's MariaDB insert triggers costs, per row.

Takes the triggers `sequences-bench` installed on `bench_db_invoice` (in the
database `sequences_bench`, left there by any run), builds five tables in a
scratch database `guardcost`, each with the trigger made a little smaller,
and times one `INSERT .. SELECT` of N rows into each, in turn, R times:

  v1  the library's triggers as installed
  v2  without the frozen columns' text (the check that the row was written as numbered)
  v3  and without the AFTER INSERT trigger: the counter moved in the BEFORE trigger
  v4  and the counter taken by one upsert through LAST_INSERT_ID (no lock, refusal read, UPDATE)
  v5  the hand trigger of the benchmark

v3 and v4 are not safe (a row an INSERT IGNORE skips would take a number):
they exist to be timed. Usage: mariadb.py [N] [R]; the `mariadb` client on
PATH, root without a password on 127.0.0.1.
"""
import subprocess, sys, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
R = int(sys.argv[2]) if len(sys.argv) > 2 else 3


def sql(db, text):
    return subprocess.run(["mariadb", "-uroot", "-h127.0.0.1", "-N", "-r", db],
                          input=text, capture_output=True, text=True, check=True).stdout


def trigger(name):
    body = sql("sequences_bench", f"SELECT action_statement FROM information_schema.triggers "
               f"WHERE trigger_schema = 'sequences_bench' AND trigger_name = '{name}'").rstrip("\n")
    if not body:
        sys.exit(f"no trigger {name}: run sequences-bench on MariaDB first")
    return body.replace("`sequences_bench`.", "`guardcost`.")


ins = trigger("sq_bench_db_invoice_number_ins")
settle = trigger("sq_bench_db_invoice_number_set")
line = lambda text, start: next(l for l in text.splitlines() if l.strip().startswith(start))
frozen = next(l for l in ins.splitlines() if "_n = CONCAT(" in l)
handoff = next(l for l in ins.splitlines() if l.strip().startswith("SET @sq_") and "= v_name" in l)
lock = next(l for l in ins.splitlines() if "ON DUPLICATE KEY UPDATE `name` = `name`" in l)
read = line(ins, "SELECT `last`, `closed`")
refusals = line(ins, "IF v_kind = 'closed'")
value = line(ins, "SET v_value = v_last + 1")
update = line(settle, "UPDATE `guardcost`")
var = handoff.strip().split(" ")[1]
inline = (update.replace(f"{var}_v", "v_value").replace(f"{var}_d", "v_day_number")
          .replace(f"{var}_p", "v_last"))
v2 = ins.replace(frozen, "")
v3 = v2.replace(handoff, inline)
v4 = (v3.replace(lock, "    INSERT INTO `guardcost`.`sequences` (`name`, `last`) VALUES (v_name, "
                 "LAST_INSERT_ID(1)) ON DUPLICATE KEY UPDATE `last` = LAST_INSERT_ID(`last` + 1);")
      .replace(read, "").replace(refusals, "").replace(inline, "")
      .replace(value, "    SET v_value = LAST_INSERT_ID();"))
hand = """BEGIN
  IF NEW.number IS NULL THEN
    INSERT INTO sequences (name, last) VALUES (CONCAT('bench-db-', NEW.series), LAST_INSERT_ID(1))
      ON DUPLICATE KEY UPDATE last = LAST_INSERT_ID(last + 1);
    SET NEW.number = LAST_INSERT_ID();
  END IF;
END"""
variants = {"v1": [ins, settle], "v2": [v2, settle], "v3": [v3], "v4": [v4], "v5": [hand]}

setup = ["DROP DATABASE IF EXISTS guardcost; CREATE DATABASE guardcost; USE guardcost;",
         sql("sequences_bench", "SHOW CREATE TABLE sequences").split("\t", 1)[1].replace("\\n", "\n") + ";",
         "DELIMITER //"]
for v, bodies in variants.items():
    setup.append(f"CREATE TABLE {v} (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, series VARCHAR(255) NOT NULL, "
                 "number BIGINT NULL, amount_cents BIGINT NOT NULL) ENGINE = InnoDB//")
    for timing, body in zip(["BEFORE", "AFTER"], bodies):
        setup.append(f"CREATE TRIGGER {v}_{timing.lower()} {timing} INSERT ON {v} FOR EACH ROW\n"
                     + body.replace("'bench-db-'", f"'{v}-'") + "//")
setup.append("DELIMITER ;")
sql("", "\n".join(setup))

times = {v: [] for v in variants}
for r in range(R):
    for v in variants:
        started = time.perf_counter()
        sql("guardcost", f"BEGIN; INSERT INTO {v} (series, amount_cents) "
                         f"SELECT 'r{r}', seq FROM seq_1_to_{N}; COMMIT;")
        times[v].append((time.perf_counter() - started) * 1e6 / N)
for v in variants:
    check = sql("guardcost", f"SELECT COUNT(DISTINCT number), MIN(number), MAX(number) FROM {v} WHERE series = 'r0'")
    median = sorted(times[v])[len(times[v]) // 2]
    print(f"{v}: median {median:.1f} ({' / '.join(f'{t:.1f}' for t in times[v])}) us per row ({N} rows; distinct, min, max: {check.split()})")
sql("", "DROP DATABASE guardcost")
