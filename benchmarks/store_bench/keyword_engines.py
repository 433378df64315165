"""The analyzer and the keyword engines with an index of their own: SQLite FTS5, tantivy, LanceDB.

Part of benchmarks/store_candidates.py (run that script; see its docstring)."""

import os
import re
import sqlite3

from store_bench.common import PATTERNS, STOP_NLTK, STOPLISTS, WORD_RE, K


class Analyzer:
    """lower-case -> regex word tokens -> stopwords -> Snowball stemmer (PyStemmer)."""

    def __init__(self, stop: str = "nltk179", stem: str = "english", pattern: str = "w1"):
        self.stop = STOPLISTS[stop]
        self.re = re.compile(PATTERNS[pattern])
        self.stemmer = None
        if stem != "none":
            import Stemmer

            self.stemmer = Stemmer.Stemmer(stem)
        self.name = f"{pattern}/{stop}/{stem}"

    def __call__(self, text: str) -> list[str]:
        toks = [t for t in self.re.findall(text.lower()) if t not in self.stop]
        return self.stemmer.stemWords(toks) if self.stemmer else toks


def fts_or_query(terms) -> str:
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


# --------------------------------------------------------------------------- engines
# Each engine: build(rows, path); open(path); search(text, k) -> list[int row id]; close().


class Fts5:
    """SQLite FTS5. mode 'porter': FTS5's own tokenizer; mode 'stems': dayshift analysis."""

    def __init__(self, mode="porter", analyzer: Analyzer | None = None, title_weight=None, detail="full"):
        self.mode, self.analyzer, self.tw, self.detail = mode, analyzer, title_weight, detail
        self.con = None

    @property
    def label(self):
        if self.mode == "porter":
            s = "a. FTS5 tokenize='porter unicode61'"
        else:
            s = f"b. FTS5 over own analysis ({self.analyzer.name})"
        if self.tw is not None:
            s += f", title col w={self.tw:g}"
        if self.detail != "full":
            s += f", detail={self.detail}"
        return s

    def _tok(self):
        return "porter unicode61" if self.mode == "porter" else "unicode61 remove_diacritics 0"

    def build(self, rows, path):
        con = sqlite3.connect(path)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("CREATE TABLE chunks(id INTEGER PRIMARY KEY, doc_id TEXT, source TEXT, title TEXT, body TEXT)")
        con.execute("CREATE INDEX chunks_doc ON chunks(doc_id)")
        con.execute("CREATE INDEX chunks_source ON chunks(source)")
        with con:
            con.executemany(
                "INSERT INTO chunks VALUES(?,?,?,?,?)",
                (
                    (
                        r["id"],
                        r["doc_id"],
                        r["source"],
                        r["title"],
                        (r["title"] + "\n" + r["text"]) if r["title"] else r["text"],
                    )
                    for r in rows
                ),
            )
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.base_bytes = os.path.getsize(path)
        tok = self._tok()
        det = f", detail={self.detail}" if self.detail != "full" else ""
        if self.tw is None:
            if self.mode == "porter":
                # external content: chunk text stored once, in chunks.body
                con.execute(
                    f"CREATE VIRTUAL TABLE fts USING fts5(body, content='chunks', content_rowid='id', tokenize='{tok}'{det})"
                )
                with con:
                    con.execute("INSERT INTO fts(fts) VALUES('rebuild')")
            else:
                con.execute(f"CREATE VIRTUAL TABLE fts USING fts5(body, tokenize='{tok}'{det})")
                an = self.analyzer
                with con:
                    con.executemany(
                        "INSERT INTO fts(rowid, body) VALUES(?,?)",
                        ((r["id"], " ".join(an(r["title"] + "\n" + r["text"]))) for r in rows),
                    )
        else:
            con.execute(f"CREATE VIRTUAL TABLE fts USING fts5(title, body, tokenize='{tok}'{det})")
            f = (lambda s: " ".join(self.analyzer(s))) if self.mode == "stems" else (lambda s: s)
            with con:
                con.executemany(
                    "INSERT INTO fts(rowid, title, body) VALUES(?,?,?)",
                    ((r["id"], f(r["title"]), f(r["text"])) for r in rows),
                )
                con.execute("INSERT INTO fts(fts, rank) VALUES('rank', ?)", (f"bm25({self.tw}, 1.0)",))
        with con:
            con.execute("INSERT INTO fts(fts) VALUES('optimize')")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        self.open(path)

    def open(self, path):
        self.con = sqlite3.connect(path, check_same_thread=False)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.sql = "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?"

    def query_string(self, text):
        terms = WORD_RE.findall(text) if self.mode == "porter" else self.analyzer(text)
        return fts_or_query(terms) if terms else None

    def search(self, text, k=K):
        q = self.query_string(text)
        if q is None:
            return []
        return [r[0] for r in self.con.execute(self.sql, (q, k))]

    def close(self):
        if self.con:
            self.con.close()


class Tantivy:
    def __init__(self, analyzer="en_stem", title_boost=None):
        self.an, self.tb = analyzer, title_boost

    @property
    def label(self):
        s = "c. tantivy en_stem" if self.an == "en_stem" else "c. tantivy simple+lower+nltk179 stop+english stem"
        if self.tb is not None:
            s += f", title field boost={self.tb:g}"
        return s

    def _schema(self):
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_integer_field("id", stored=True, indexed=True, fast=True)
        sb.add_text_field("doc_id", stored=False, tokenizer_name="raw", index_option="basic")
        sb.add_text_field("source", stored=False, tokenizer_name="raw", index_option="basic")
        if self.tb is not None:
            sb.add_text_field("title", stored=False, tokenizer_name=self.an, index_option="freq")
        sb.add_text_field("body", stored=False, tokenizer_name=self.an, index_option="freq")
        return sb.build()

    def _register(self):
        if self.an != "en_stem":
            import tantivy as tv

            a = (
                tv.TextAnalyzerBuilder(tv.Tokenizer.simple())
                .filter(tv.Filter.remove_long(40))
                .filter(tv.Filter.lowercase())
                .filter(tv.Filter.custom_stopword(sorted(STOP_NLTK)))
                .filter(tv.Filter.stemmer("english"))
                .build()
            )
            self.index.register_tokenizer(self.an, a)

    def build(self, rows, path):
        import tantivy

        os.makedirs(path, exist_ok=True)
        self.index = tantivy.Index(self._schema(), path=path, reuse=False)
        self._register()
        w = self.index.writer(heap_size=256_000_000, num_threads=2)
        for r in rows:
            d = {"id": r["id"], "doc_id": r["doc_id"], "source": r["source"]}
            if self.tb is None:
                d["body"] = (r["title"] + "\n" + r["text"]) if r["title"] else r["text"]
            else:
                d["title"], d["body"] = r["title"], r["text"]
            w.add_document(tantivy.Document(**d))
        w.commit()
        w.wait_merging_threads()
        self.open(path)

    def open(self, path):
        import tantivy

        self.tv = tantivy
        if not hasattr(self, "index") or self.index is None:
            self.index = tantivy.Index.open(path)
            self._register()
        self.index.reload()
        self.searcher = self.index.searcher()
        self.fields = ["body"] if self.tb is None else ["title", "body"]
        self.boosts = {} if self.tb is None else {"title": self.tb}

    def parse(self, text):
        # word tokens only (no query syntax), lower-cased so AND/OR/NOT are plain words
        s = " ".join(WORD_RE.findall(text.lower()))
        return self.index.parse_query(s, self.fields, field_boosts=self.boosts) if s else None

    def search(self, text, k=K, query=None):
        q = query if query is not None else self.parse(text)
        if q is None:
            return []
        res = self.searcher.search(q, k, count=False)
        return [self.searcher.doc(addr)["id"][0] for _, addr in res.hits]

    def close(self):
        self.index = None


class Lance:
    label = "d. LanceDB native FTS (defaults)"

    def build(self, rows, path, vectors=None):
        import lancedb
        import pyarrow as pa

        cols = {
            "id": pa.array([r["id"] for r in rows], pa.int64()),
            "doc_id": pa.array([r["doc_id"] for r in rows]),
            "source": pa.array([r["source"] for r in rows]),
            "body": pa.array([(r["title"] + "\n" + r["text"]) if r["title"] else r["text"] for r in rows]),
        }
        if vectors is not None:
            cols["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
        db = lancedb.connect(path)
        tbl = db.create_table("chunks", data=pa.table(cols), mode="overwrite")
        from lancedb.index import FTS

        tbl.create_index("body", config=FTS())  # defaults: simple tokenizer, lower, English stem, stopwords, ascii fold
        self.open(path)

    def open(self, path):
        import lancedb

        self.db = lancedb.connect(path)
        self.tbl = self.db.open_table("chunks")

    def search(self, text, k=K, where=None):
        q = text.replace('"', " ")  # phrase syntax needs with_position=True
        s = self.tbl.search(q, query_type="fts").limit(k).select(["id", "_score"])
        if where:
            s = s.where(where, prefilter=True)
        return s.to_arrow()["id"].to_pylist()

    def close(self):
        self.tbl = self.db = None
