"""Near-duplicate index: insert-and-query throughput and memory at 10,000 and 100,000 stored articles.

Run:  .venv/bin/python bench/dedupe.py [--sizes 10000 100000] [--articles 500] [--postgres URL]
      (5–10 min for both sizes on SQLite, most of it loading 100,000 articles; --postgres about doubles it)

Compared in the same run, each in a fresh process (so memory figures are its own):

* **db** — what Hlídka does: the signature and its 42 LSH band keys stored in the
  database, candidates found by one indexed query. Per new article, as
  ``StorePipeline`` does it: one transaction that takes the story lock, finds
  the story, inserts the article and indexes it, and commits. Next to it, the
  same transaction storing only the article (no lock, no index): the baseline
  cost of a commit on this disk, so the index's own share is visible.
* **memory** — the alternative: a datasketch ``MinHashLSH`` with the same
  banding, held by each crawl process. It has to be rebuilt from the stored
  signatures whenever a crawl process starts (the service starts one per
  source run); that rebuild and its memory are what it costs.

Stored articles are random signatures (unrelated articles share almost no
shingles, so their MinHash positions almost never agree); 100 planted near
duplicates (estimated similarity 0.7) of stored articles check that each index
finds them. Computing a signature from text is timed apart, on generated text.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

SHINGLES = 300
PLANTED = 100
PLANTED_SIMILARITY = 0.7
THRESHOLD = 0.5
CHUNK = 20_000


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def random_signatures(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.integers(0, 2**32, size=(count, 128), dtype=np.uint32)


def near_copy(rng: np.random.Generator, values: np.ndarray, similarity: float) -> np.ndarray:
    copy = values.copy()
    changed = rng.choice(len(values), size=round(len(values) * (1 - similarity)), replace=False)
    copy[changed] = rng.integers(0, 2**32, size=len(changed), dtype=np.uint32)
    return copy


def workload(size: int, articles: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Stored signatures, new articles' signatures (planted copies first), and which stored row each copies."""
    rng = np.random.default_rng(seed)
    stored = random_signatures(rng, size)
    targets = [int(t) for t in rng.choice(size, size=PLANTED, replace=False)]
    planted = np.stack([near_copy(rng, stored[t], PLANTED_SIMILARITY) for t in targets])
    fresh = random_signatures(rng, articles - PLANTED)
    return stored, np.concatenate([planted, fresh]), targets


@dataclass
class Figures:
    method: str
    size: int
    setup_seconds: float
    store_per_second: float
    baseline_per_second: float | None
    query_per_second: float
    recall: float
    rss_growth_mib: float
    index_bytes_per_article: float | None


# --------------------------------------------------------------------------- db


def preload(database_url: str, stored: np.ndarray) -> None:
    """Fill the database as months of crawling would: articles, signatures, band keys."""
    from sqlalchemy import insert, text

    from hlidka.db import Article, open_database, utcnow
    from hlidka.db.models import ArticleBand, ArticleSignature
    from pipelines.neardup import Signature

    database = open_database(database_url)
    now = utcnow()
    with database.engine.begin() as connection:
        for start in range(0, len(stored), CHUNK):
            rows = range(start, min(start + CHUNK, len(stored)))
            connection.execute(insert(Article), [
                {"id": i + 1, "source_id": "bench", "canonical_url": f"https://example.org/{i}", "title": "",
                 "text": "", "content_hash": f"{i:064x}", "fetched_at": now, "story_id": i + 1, "version": 1}
                for i in rows])
            signatures = [Signature(stored[i], SHINGLES) for i in rows]
            connection.execute(insert(ArticleSignature), [
                {"article_id": i + 1, "minhash": s.to_bytes(), "shingles": SHINGLES} for i, s in zip(rows, signatures)])
            connection.execute(insert(ArticleBand), [
                {"band_key": key, "article_id": i + 1} for i, s in zip(rows, signatures) for key in s.band_keys])
        if connection.dialect.name == "postgresql":  # explicit ids leave the id sequence behind
            connection.execute(text("SELECT setval(pg_get_serial_sequence('articles', 'id'), MAX(id)) FROM articles"))
    with database.engine.connect() as connection:
        # The statistics autovacuum keeps on a live database; without them PostgreSQL plans the
        # band lookup for an empty table (a parallel scan, ~30 ms instead of ~0.2 ms).
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    database.dispose()


def index_size(database_url: str) -> float | None:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            size = connection.execute(text("SELECT pg_total_relation_size('article_bands') + "
                                           "pg_total_relation_size('article_signatures')")).scalar()
        else:
            try:
                size = connection.execute(text("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE '%article_bands%' "
                                               "OR name LIKE '%article_signatures%'")).scalar()
            except Exception:  # SQLite built without the dbstat table
                size = None
    engine.dispose()
    return size


def run_db(database_url: str, size: int, articles: int) -> Figures:
    from hlidka.db import Article, open_database, utcnow
    from pipelines.neardup import Signature
    from pipelines.stories import find_story, index_article, lock_stories

    stored, new, targets = workload(size, articles)
    started = time.perf_counter()
    preload(database_url, stored)
    setup = time.perf_counter() - started
    stored_bytes = index_size(database_url)
    database = open_database(database_url)
    since = utcnow() - timedelta(days=30)

    def store(values: np.ndarray, number: int, indexed: bool) -> int | None:
        with database.session() as session, session.begin():
            if indexed:
                lock_stories(session)
                signature = Signature(values, SHINGLES)
                match = find_story(session, signature, THRESHOLD, since)
            article = Article(source_id="bench", canonical_url=f"https://example.org/new/{indexed}/{number}",
                              title="", text="", content_hash=f"new{indexed}{number}", fetched_at=utcnow())
            session.add(article)
            session.flush()
            if indexed:
                article.story_id = match.story_id if match else article.id
                index_article(session, article.id, signature)
                return match.article_id if match else None
        return None

    rss_before = rss_mib()
    started = time.perf_counter()
    for number, values in enumerate(new[PLANTED:]):
        store(values, number, indexed=False)
    baseline = (len(new) - PLANTED) / (time.perf_counter() - started)
    started = time.perf_counter()
    found = [store(values, number, indexed=True) for number, values in enumerate(new)]
    per_second = len(new) / (time.perf_counter() - started)
    recall = sum(1 for f, t in zip(found, targets) if f == t + 1) / PLANTED
    started = time.perf_counter()
    with database.session() as session:
        for values in new:
            find_story(session, Signature(values, SHINGLES), THRESHOLD, since)
    queries = len(new) / (time.perf_counter() - started)
    growth = rss_mib() - rss_before
    database.dispose()
    return Figures("db (" + database_url.split(":", 1)[0].split("+")[0] + ")", size, setup, per_second, baseline,
                   queries, recall, growth, stored_bytes / size if stored_bytes else None)


# --------------------------------------------------------------------------- memory


def run_memory(database_url: str, size: int, articles: int) -> Figures:
    """Rebuild a datasketch LSH from the signatures the database holds, then insert and query in memory."""
    from datasketch import LeanMinHash, MinHashLSH
    from sqlalchemy import create_engine, select

    from hlidka.db.models import ArticleSignature
    from pipelines.neardup import BANDS, ROWS, SCHEME, SEED, Signature

    stored, new, targets = workload(size, articles)
    preload(database_url, stored)
    rss_before = rss_mib()
    started = time.perf_counter()
    engine = create_engine(database_url)
    lsh = MinHashLSH(num_perm=128, params=(BANDS, ROWS))
    signatures: dict[int, Signature] = {}
    with engine.connect() as connection:
        for article_id, minhash, shingles in connection.execute(
                select(ArticleSignature.article_id, ArticleSignature.minhash, ArticleSignature.shingles)):
            signature = Signature.from_bytes(minhash, shingles)
            signatures[article_id] = signature
            lsh.insert(article_id, LeanMinHash(seed=SEED, hashvalues=signature.hashvalues, scheme=SCHEME))
    engine.dispose()
    setup = time.perf_counter() - started
    built_rss = rss_mib() - rss_before

    def query(values: np.ndarray) -> int | None:
        signature = Signature(values, SHINGLES)
        best = None
        for key in lsh.query(LeanMinHash(seed=SEED, hashvalues=values, scheme=SCHEME)):
            similarity = signature.similarity(signatures[key])
            if similarity >= THRESHOLD and (best is None or similarity > best[0]):
                best = (similarity, key)
        return best[1] if best else None

    started = time.perf_counter()
    found = []
    for number, values in enumerate(new):
        found.append(query(values))
        key = size + 1 + number
        signatures[key] = Signature(values, SHINGLES)
        lsh.insert(key, LeanMinHash(seed=SEED, hashvalues=values, scheme=SCHEME))
    per_second = len(new) / (time.perf_counter() - started)
    recall = sum(1 for f, t in zip(found, targets) if f == t + 1) / PLANTED
    started = time.perf_counter()
    for values in new:
        query(values)
    queries = len(new) / (time.perf_counter() - started)
    return Figures("memory (datasketch)", size, setup, per_second, None, queries, recall, built_rss, None)


# --------------------------------------------------------------------------- signatures from text


def signature_speed(count: int = 300) -> float:
    """Milliseconds per signature of a ~400-word article (shingling, hashing, MinHash)."""
    from pipelines.neardup import signature

    rng = random.Random(3)
    vocabulary = ["".join(rng.choice("abcdefghijklmnoprstuvzáéíýčřšž") for _ in range(rng.randint(2, 10)))
                  for _ in range(20_000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    texts = [" ".join(rng.choices(vocabulary, weights, k=400)) for _ in range(count)]
    started = time.perf_counter()
    for text in texts:
        signature(text)
    return 1000 * (time.perf_counter() - started) / count


# --------------------------------------------------------------------------- main


def in_fresh_process(function, *args):  # type: ignore[no-untyped-def]
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def postgres_database(admin_url: str) -> tuple[str, object]:
    import uuid

    from sqlalchemy import create_engine, text

    name = f"hlidka_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.rsplit("/", 1)[0] + f"/{name}", drop


def report(f: Figures) -> None:
    baseline = f"{f.baseline_per_second:.0f}" if f.baseline_per_second else "–"
    stored_bytes = f"{f.index_bytes_per_article:.0f}" if f.index_bytes_per_article else "–"
    print(f"| {f.method} | {f.size:,} | {f.setup_seconds:.1f} | {f.store_per_second:.0f} | {baseline} | "
          f"{f.query_per_second:.0f} | {100 * f.recall:.0f}% | {f.rss_growth_mib:.1f} | {stored_bytes} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--articles", type=int, default=500, help="new articles stored and queried per run")
    parser.add_argument("--postgres", help="also run the db index on PostgreSQL (admin URL; a scratch database "
                                           "is created and dropped), e.g. postgresql+psycopg://postgres@127.0.0.1/test")
    args = parser.parse_args()
    print(f"signature of a 400-word text: {in_fresh_process(signature_speed):.2f} ms")
    print()
    print("| index | stored articles | setup s | insert+query /s | commit-only baseline /s | query /s | "
          "planted copies found | process memory growth MiB | index bytes/article |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as scratch:
            report(in_fresh_process(run_db, f"sqlite:///{scratch}/db.sqlite", size, args.articles))
            report(in_fresh_process(run_memory, f"sqlite:///{scratch}/memory.sqlite", size, args.articles))
        if args.postgres:
            url, drop = postgres_database(args.postgres)
            try:
                report(in_fresh_process(run_db, url, size, args.articles))
            finally:
                drop()  # type: ignore[operator]
    print("\nsetup: db = bulk-loading the stored articles (a one-off, as months of crawling would); "
          "memory = rebuilding the LSH from stored signatures, paid by every crawl process at start.")
    print("memory growth: db = over the insert/query loop; memory = the built index (RSS).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
