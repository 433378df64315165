"""A Postgres server for tests: the one named by DAYSHIFT_TEST_POSTGRES_URL, or a throwaway local cluster.

    @pytest.fixture(scope="session")
    def postgres_url() -> Iterator[str]:
        with temporary_postgres() as url:      # skips the test when there is no Postgres at all
            yield url

    def test_x(postgres_url):
        with temporary_database(postgres_url) as url:   # a fresh, empty database per test
            ...

Without the variable, `initdb` and `pg_ctl` (PATH, /usr/lib/postgresql/*/bin,
/usr/local/bin) create a cluster in a temporary folder that listens on a
unix socket in that folder only (no TCP, so nothing clashes with a real
server), with fsync off, and remove it afterwards. Postgres refuses to run
as root, so as root the cluster belongs to the `postgres` user.

Left out: Windows, and servers that need a password other than in the URL.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

__all__ = ["temporary_database", "temporary_postgres"]

ENV = "DAYSHIFT_TEST_POSTGRES_URL"


@contextmanager
def temporary_postgres() -> Iterator[str]:
    """Yield a SQLAlchemy URL (postgresql+psycopg) of a server the caller may create databases on."""
    if os.environ.get(ENV):
        yield os.environ[ENV]
        return
    bin_dir = _find_bin_dir()
    if bin_dir is None:
        _skip(f"no Postgres: set {ENV}=postgresql+psycopg://user:password@host/db, or install postgresql (initdb)")
    folder = Path(tempfile.mkdtemp(prefix="dayshift-pg-"))  # not under pytest's tmp: the postgres user must reach it
    run_as = _run_as()
    try:
        if run_as:
            shutil.chown(folder, user="postgres", group="postgres")
        port = _free_port()
        data = folder / "data"
        _run([*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
              "--no-sync", "--no-instructions"])  # fmt: skip
        options = f"-c listen_addresses='' -k {folder} -p {port} -c fsync=off -c full_page_writes=off"
        _run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"),
              "-w", "-t", "60", "start"])  # fmt: skip
    except (OSError, LookupError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        _skip(f"could not start a throwaway Postgres with {bin_dir}: {_describe(exc)}")
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={folder}&port={port}"
    finally:
        subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def temporary_database(server_url: str) -> Iterator[str]:
    """Create an empty database on the server at `server_url`, yield its URL, drop it afterwards."""
    import sqlalchemy as sa

    name = f"dayshift_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def _find_bin_dir() -> Path | None:
    candidates = [shutil.which("initdb"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)]
    candidates.append("/usr/local/bin/initdb")
    for initdb in candidates:
        if initdb and Path(initdb).is_file():
            bin_dir = Path(initdb).resolve().parent
            if (bin_dir / "pg_ctl").is_file():
                return bin_dir
    return None


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        _skip("running as root without `runuser`: Postgres refuses root, so run the tests as another user")
    return ["runuser", "-u", "postgres", "--"]


def _run(command: list[str]) -> None:
    subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _describe(exc: BaseException) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        output = (exc.stderr or exc.stdout or "").strip().splitlines()
        program = next((Path(c).name for c in exc.cmd if c.endswith(("initdb", "pg_ctl"))), "command")
        return f"{program} exited {exc.returncode}: {' / '.join(output[-3:])}"
    return f"{type(exc).__name__}: {exc}"


def _skip(reason: str) -> NoReturn:
    import pytest

    pytest.skip(reason)
