"""Tenants: every tenant's documents, chunks, indexes and calibration live in its own data folder.

    default tenant   <data_dir>/                      (what the CLI reads and writes)
    tenant "acme"    <data_dir>/tenants/acme/

A store opened for one tenant holds only that tenant's files (a server store,
its own schema or collection: settings.store.namespace), so no query,
filter or bug in a route can reach another tenant's chunks: isolation is a
property of where the data is, not of a WHERE clause (ADR 0005). Traces and
usage are shared tables with a tenant column, always filtered by it.

With database.url, what a data folder holds becomes the tables of one Postgres
schema: the namespace set here picks dayshift_<tenant> for the tenant's chunks,
ingest catalog and embedding cache (dayshift.assemble opens them there), just as
data_dir picks the folder for the SQLite files.
"""

from __future__ import annotations

import re

from dayshift.errors import ConfigError
from dayshift.settings import Settings

DEFAULT_TENANT = "default"
TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_NAME = re.compile(TENANT_PATTERN)


def check_tenant(name: str) -> str:
    """`name` if it is a valid tenant name, else ConfigError saying what is allowed."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):  # fullmatch: "$" alone lets "acme\n" through
        raise ConfigError(
            f'invalid tenant name "{name}": use 1 to 63 lowercase letters, digits, "-" or "_", '
            "starting with a letter or digit"
        )
    return name


def tenant_settings(settings: Settings, tenant: str) -> Settings:
    """`settings` with data_dir pointing at `tenant`'s own folder, and the store's namespace set to it."""
    check_tenant(tenant)
    if tenant == DEFAULT_TENANT:
        return settings
    store = settings.store.model_copy(update={"namespace": tenant})
    return settings.model_copy(update={"data_dir": settings.data_dir / "tenants" / tenant, "store": store})
