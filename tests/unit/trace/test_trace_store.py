"""TraceStore against SQLite and Postgres: every field round-trips, writes are idempotent, every filter,
tenant scoping, cursor pagination, feedback and purge."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta, timezone

import pytest
from trace_factory import T0, make_record

from dayshift.errors import ConfigError, QueryError
from dayshift.trace.record import Feedback, TraceQuery
from dayshift.trace.store import TraceStore, create_trace_engine, default_trace_url


def ids(found: list) -> list[str]:
    return [t.record.trace_id for t in found]


def test_every_field_round_trips(store: TraceStore) -> None:
    paris = timezone(timedelta(hours=2))
    record = make_record(7, started_at=(T0 + timedelta(microseconds=123456)).astimezone(paris), query="Ünïcode ✓ 日本")
    nothing = make_record(8, answer=None, prompt_name=None, prompt_version=None, model=None, retrieved=[],
                          confidence=None, abstained=None, stages_ms={}, errors=[], params={})  # fmt: skip
    abstained = make_record(9, abstained=True, abstain_reason="no source supports the answer", status="error")
    assert store.write([record, nothing, abstained]) == 3
    for original in (record, nothing, abstained):
        stored = store.get(original.trace_id, tenant="acme")
        assert stored is not None and stored.feedback == []
        assert stored.record == original
        assert stored.record.started_at.tzinfo == UTC
        assert type(stored.record.retrieved[0].score if stored.record.retrieved else 0.0) is float
    assert store.get(record.trace_id, tenant="acme").record.started_at == T0 + timedelta(microseconds=123456)


def test_text_not_stored_is_null(store: TraceStore) -> None:
    store.write([make_record(1, query=None, answer=None)])
    stored = store.get(make_record(1).trace_id, tenant="acme")
    assert stored.record.query is None and stored.record.answer is None


def test_values_a_database_would_refuse_are_made_storable(store: TraceStore) -> None:
    # Postgres text cannot hold NUL, and neither backend stores NaN in JSON.
    record = make_record(1, query="a\x00b", stages_ms={"embed": float("nan")}, params={"w": [float("inf")]})
    assert store.write([record]) == 1
    stored = store.get(record.trace_id, tenant="acme").record
    assert stored.query in ("a\x00b", "a\ufffdb")
    assert stored.stages_ms == {"embed": None} and stored.params == {"w": [None]}


def test_write_is_idempotent(store: TraceStore) -> None:
    first = [make_record(i) for i in range(5)]
    assert store.write(first) == 5
    assert store.write(first) == 0
    changed = replace(first[0], answer="a later, different answer")
    assert store.write([changed, make_record(5), make_record(5)]) == 1
    assert store.count() == 6
    assert store.get(first[0].trace_id, tenant=None).record.answer == first[0].answer  # the first write wins
    assert store.write([]) == 0


def test_tenant_scoping(store: TraceStore) -> None:
    mine, theirs = make_record(1, tenant="acme"), make_record(2, tenant="globex")
    store.write([mine, theirs])
    assert store.get(theirs.trace_id, tenant="acme") is None
    assert store.get(theirs.trace_id, tenant="globex") is not None
    assert store.get(theirs.trace_id, tenant=None) is not None  # admin
    assert not store.add_feedback(Feedback(theirs.trace_id, "acme", "down", "not yours"))
    assert store.get(theirs.trace_id, tenant=None).feedback == []
    assert not store.add_feedback(Feedback("f" * 32, "acme", "up"))  # no such trace at all
    assert ids(store.query(TraceQuery(tenant="acme"))) == [mine.trace_id]
    assert ids(store.query(TraceQuery(tenant=None))) == [theirs.trace_id, mine.trace_id]
    assert (store.count("acme"), store.count("globex"), store.count()) == (1, 1, 2)
    with pytest.raises(QueryError, match="unknown cursor"):
        store.query(TraceQuery(tenant="acme", before=theirs.trace_id))


def test_feedback_attaches_in_order(store: TraceStore) -> None:
    record = make_record(1)
    store.write([record])
    assert store.add_feedback(Feedback(record.trace_id, "acme", "down", "wrong page cited", created_at=T0))
    assert store.add_feedback(Feedback(record.trace_id, "acme", "up", "fixed after reindex", T0 + timedelta(hours=1)))
    stored = store.get(record.trace_id, tenant="acme")
    assert [(f.rating, f.comment) for f in stored.feedback] == [
        ("down", "wrong page cited"),
        ("up", "fixed after reindex"),
    ]
    assert stored.feedback[0].created_at == T0 and stored.rating == "up"
    assert stored.to_json()["feedback"][1] == {"rating": "up", "comment": "fixed after reindex",
                                              "created_at": (T0 + timedelta(hours=1)).isoformat()}  # fmt: skip
    with pytest.raises(QueryError):
        store.add_feedback(Feedback(record.trace_id, "acme", "meh"))  # type: ignore[arg-type]


@pytest.fixture
def populated(store: TraceStore) -> TraceStore:
    records = [
        make_record(1, route="/v1/search", prompt_name=None, prompt_version=None, abstained=None),
        make_record(2, prompt_name="answer", prompt_version="1", abstained=True),
        make_record(3, prompt_name="answer", prompt_version="2", abstained=False),
        make_record(4, prompt_name="summary", prompt_version="2", abstained=False, status="error"),
        make_record(5, tenant="globex", prompt_version="2"),
        make_record(6, status="cancelled"),
    ]
    store.write(records)
    for trace, ratings in {1: ["up"], 2: ["down"], 3: ["up", "down"], 4: ["down", "up"], 5: ["up"]}.items():
        for n, rating in enumerate(ratings):
            tenant = "globex" if trace == 5 else "acme"
            store.add_feedback(Feedback(f"{trace:032x}", tenant, rating, created_at=T0 + timedelta(minutes=n)))
    return store


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (TraceQuery(tenant="acme"), [6, 4, 3, 2, 1]),
        (TraceQuery(tenant=None), [6, 5, 4, 3, 2, 1]),
        (TraceQuery(tenant="acme", since=T0 + timedelta(seconds=2)), [6, 4, 3, 2]),
        (TraceQuery(tenant="acme", until=T0 + timedelta(seconds=2)), [1]),  # until is exclusive
        (TraceQuery(tenant="acme", since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=4)), [3, 2]),
        (TraceQuery(tenant="acme", route="/v1/search"), [1]),
        (TraceQuery(tenant="acme", status="error"), [4]),
        (TraceQuery(tenant="acme", status="cancelled"), [6]),
        (TraceQuery(tenant="acme", prompt_version="2"), [6, 4, 3]),
        (TraceQuery(tenant="acme", prompt_version="answer@2"), [6, 3]),
        (TraceQuery(tenant="acme", prompt_version="summary@2"), [4]),
        (TraceQuery(tenant="acme", prompt_version="answer@1"), [2]),
        (TraceQuery(tenant="acme", prompt_version="answer@9"), []),
        (TraceQuery(tenant="acme", abstained=True), [2]),
        (TraceQuery(tenant="acme", abstained=False), [6, 4, 3]),
        (TraceQuery(tenant="acme", feedback="up"), [4, 1]),  # the latest rating counts
        (TraceQuery(tenant="acme", feedback="down"), [3, 2]),
        (TraceQuery(tenant="acme", feedback="any"), [4, 3, 2, 1]),
        (TraceQuery(tenant="acme", feedback="none"), [6]),
        (TraceQuery(tenant=None, feedback="up"), [5, 4, 1]),
        (TraceQuery(tenant="globex", prompt_version="2", feedback="up"), [5]),
        (TraceQuery(tenant="acme", abstained=False, feedback="down", prompt_version="answer@2"), [3]),
        (TraceQuery(tenant="acme", limit=2), [6, 4]),
    ],
)
def test_query_filters(populated: TraceStore, query: TraceQuery, expected: list[int]) -> None:
    assert ids(populated.query(query)) == [f"{i:032x}" for i in expected]


def test_query_rejects_a_bad_limit(store: TraceStore) -> None:
    with pytest.raises(QueryError, match="limit"):
        store.query(TraceQuery(tenant="acme", limit=0))


def test_cursor_pagination_visits_each_trace_once_newest_first(store: TraceStore) -> None:
    # Ties on started_at (several traces per second) are broken by trace_id.
    records = [make_record(i, started_at=T0 + timedelta(seconds=i // 3)) for i in range(23)]
    records += [make_record(100 + i, tenant="globex") for i in range(5)]
    store.write(records)
    expected = sorted(
        (r for r in records if r.tenant == "acme"), key=lambda r: (r.started_at, r.trace_id), reverse=True
    )
    pages, before = [], None
    while True:
        page = store.query(TraceQuery(tenant="acme", limit=5, before=before))
        if not page:
            break
        pages.append(ids(page))
        before = page[-1].record.trace_id
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [i for page in pages for i in page] == [r.trace_id for r in expected]
    # Filters and the cursor combine.
    since = store.query(
        TraceQuery(tenant="acme", since=T0 + timedelta(seconds=4), limit=50, before=expected[2].trace_id)
    )
    assert ids(since) == [r.trace_id for r in expected[3:] if r.started_at >= T0 + timedelta(seconds=4)]


def test_scan_streams_a_window_oldest_first_in_batches(store: TraceStore) -> None:
    # Ties on started_at span batch boundaries; the window is half-open; feedback comes along.
    records = [make_record(i, started_at=T0 + timedelta(seconds=i // 4)) for i in range(30)]
    records += [make_record(100 + i, tenant="globex", started_at=T0 + timedelta(seconds=i)) for i in range(4)]
    store.write(records)
    store.add_feedback(Feedback(make_record(9).trace_id, "acme", "down"))
    since, until = T0 + timedelta(seconds=1), T0 + timedelta(seconds=7)
    expected = sorted((r for r in records if since <= r.started_at < until), key=lambda r: (r.started_at, r.trace_id))
    scanned = list(store.scan(since, until, batch=3))
    assert [t.record.trace_id for t in scanned] == [r.trace_id for r in expected]
    assert next(t for t in scanned if t.record.trace_id == make_record(9).trace_id).rating == "down"
    acme = [t.record.tenant for t in store.scan(since, until, tenant="acme", batch=5)]
    assert acme == ["acme"] * sum(r.tenant == "acme" for r in expected)
    assert list(store.scan(until, until)) == []
    with pytest.raises(QueryError, match="batch"):
        list(store.scan(since, until, batch=0))


def test_purge_removes_old_traces_and_their_feedback(store: TraceStore) -> None:
    store.write([make_record(i) for i in range(10)])
    store.add_feedback(Feedback(make_record(2).trace_id, "acme", "up"))
    store.add_feedback(Feedback(make_record(8).trace_id, "acme", "down"))
    assert store.purge(T0 + timedelta(seconds=5)) == 5
    assert store.count() == 5
    assert store.get(make_record(2).trace_id, tenant=None) is None
    assert store.get(make_record(8).trace_id, tenant=None).rating == "down"
    assert store.purge(T0) == 0
    assert store.write([make_record(2)]) == 1  # its feedback went with it
    assert store.get(make_record(2).trace_id, tenant=None).feedback == []


def test_two_stores_on_one_database_see_each_others_writes(store_url: str) -> None:
    with TraceStore(store_url) as writer, TraceStore(store_url) as reader:
        writer.write([make_record(1)])
        assert reader.get(make_record(1).trace_id, tenant="acme") is not None


def test_default_url_and_unsupported_urls(tmp_path) -> None:
    url = default_trace_url(tmp_path / "data")
    assert url == f"sqlite:///{tmp_path}/data/traces.sqlite"
    with TraceStore(url) as store:  # the folder is created
        assert store.count() == 0
    assert (tmp_path / "data" / "traces.sqlite").is_file()
    with pytest.raises(ConfigError, match="sqlite:///"):
        create_trace_engine("mysql://u@h/db")
    with pytest.raises(ConfigError, match="in-memory"):
        create_trace_engine("sqlite://")
    assert create_trace_engine("postgresql://u@h/db").url.drivername == "postgresql+psycopg"
