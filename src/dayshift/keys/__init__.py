"""API keys and where they are kept: see dayshift.keys.base.

    from dayshift.keys import KeyRing, SqliteKeyStore
    ring = KeyRing(SqliteKeyStore(data_dir / KEYS_FILE))

PostgresKeyStore is imported from dayshift.keys.postgres (it needs the postgres driver).
"""

from dayshift.keys.base import API_KEY_PREFIX, KeyInfo, KeyRing, KeyStore, Principal, new_api_key
from dayshift.keys.sqlite import KEYS_FILE, SqliteKeyStore

__all__ = ["API_KEY_PREFIX", "KEYS_FILE", "KeyInfo", "KeyRing", "KeyStore", "Principal", "SqliteKeyStore",
           "new_api_key"]
