"""Django and django-sequences, driven by tests/tests/django.rs.

Each command configures Django for one database URL (the test's), then:

  migrate                      Django's own `migrate sequences`
  next NAME [--initial I] [--reset R]
                               one get_next_value in transaction.atomic(),
                               committed; prints {"value": n} or {"error": "..."}
  write --table T --series S --threads N --count C --rollback-every K
                               N threads, each C transactions of
                               atomic() + get_next_value + Invoice.save(), every
                               K-th one rolled back; a transaction the database
                               asks to run again (a deadlock, a serialization
                               failure) is run again, as a Django user would;
                               prints {"committed": [...], "rolled_back": r,
                               "retried": n, "retried_because": [...],
                               "errors": [...]}
"""

import argparse
import json
import sys
import threading
from urllib.parse import unquote, urlparse

import django
from django.conf import settings


def database(url):
    parsed = urlparse(url)
    if parsed.scheme.startswith("postgres"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parsed.path.lstrip("/"),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname,
            "PORT": parsed.port or 5432,
        }
    if parsed.scheme == "mysql":
        import pymysql

        pymysql.install_as_MySQLdb()
        import MySQLdb

        # Django asks for mysqlclient >= 2.2.1; PyMySQL speaks its API.
        MySQLdb.version_info = (2, 2, 1, "final", 0)
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": parsed.path.lstrip("/"),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname,
            "PORT": parsed.port or 3306,
        }
    if parsed.scheme == "sqlite":
        path = url.split("://", 1)[1].split("?", 1)[0]
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            # Writers queue for SQLite's lock from BEGIN, as the library's do.
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 60},
        }
    raise SystemExit(f"unknown database URL {url!r}")


def setup(url):
    settings.configure(
        DATABASES={"default": database(url)},
        INSTALLED_APPS=["sequences"],
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        USE_TZ=True,
    )
    django.setup()


class Rollback(Exception):
    pass


def invoice_model(table):
    from django.db import models

    class Invoice(models.Model):
        series = models.CharField(max_length=50)
        number = models.BigIntegerField()
        source = models.CharField(max_length=10)

        class Meta:
            app_label = "sequences"
            db_table = table
            managed = False

    return Invoice


def next_value(args):
    from django.db import transaction

    from sequences import get_next_value

    try:
        with transaction.atomic():
            value = get_next_value(
                args.name, initial_value=args.initial, reset_value=args.reset
            )
        print(json.dumps({"value": value}))
    except Exception as error:  # the test asserts on the refusal's text
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}))


def to_retry(error):
    """Whether the database asks for the transaction to be run again:
    InnoDB's deadlock (1213; its documented case of several transactions
    creating one new row when the first rolls back), or PostgreSQL's
    serialization failure or deadlock."""
    from django.db import OperationalError

    cause = error.__cause__
    if getattr(cause, "sqlstate", None) in ("40001", "40P01"):
        return True
    return isinstance(error, OperationalError) and error.args[:1] == (1213,)


def write(args):
    from django.db import connection, transaction

    from sequences import get_next_value

    Invoice = invoice_model(args.table)
    lock = threading.Lock()
    committed, retried, errors = [], [], []
    rolled_back = [0]

    def writer(index):
        try:
            for i in range(args.count):
                while True:
                    try:
                        with transaction.atomic():
                            number = get_next_value(f"shared-{args.series}")
                            Invoice(series=args.series, number=number, source="django").save()
                            if (i + index) % args.rollback_every == args.rollback_every - 1:
                                raise Rollback()
                        with lock:
                            committed.append(number)
                    except Rollback:
                        with lock:
                            rolled_back[0] += 1
                    except Exception as error:
                        if to_retry(error):
                            with lock:
                                retried.append(f"{type(error).__name__}: {error}")
                            continue
                        with lock:
                            errors.append(f"{type(error).__name__}: {error}")
                    break
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(
        json.dumps(
            {
                "committed": sorted(committed),
                "rolled_back": rolled_back[0],
                "retried": len(retried),
                "retried_because": sorted(set(retried)),
                "errors": errors,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate")
    nxt = commands.add_parser("next")
    nxt.add_argument("name")
    nxt.add_argument("--initial", type=int, default=1)
    nxt.add_argument("--reset", type=int, default=None)
    wrt = commands.add_parser("write")
    wrt.add_argument("--table", required=True)
    wrt.add_argument("--series", required=True)
    wrt.add_argument("--threads", type=int, default=4)
    wrt.add_argument("--count", type=int, default=20)
    wrt.add_argument("--rollback-every", type=int, default=5)
    args = parser.parse_args()
    setup(args.url)
    if args.command == "migrate":
        from django.core.management import call_command

        call_command("migrate", "sequences", verbosity=0)
    elif args.command == "next":
        next_value(args)
    else:
        write(args)


if __name__ == "__main__":
    sys.exit(main())
