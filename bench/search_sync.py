"""Benchmark the search sync: es-hadoop against elasticsearch-py parallel_bulk, and search latency.

Run: ``python bench/search_sync.py [--rows 100000] [--queries 1000]`` against the configured
node (default: the local one on 9200), in indices of its own that it deletes at the end.

The same 100,000 catalog rows (generated in Spark, turned into documents by the sync's own
transform, cached) go into two fresh indices: once through elasticsearch-hadoop (`index`, as a
reindex writes; then `upsert` over the loaded index, as the incremental sync writes) and once
through elasticsearch-py `parallel_bulk`. parallel_bulk is timed from the DataFrame rows (the
rows collected to the driver, then sent) and for the sending alone. The ratio is es-hadoop
docs/s over parallel_bulk docs/s. Then 1,000 typo'd title searches (and 1,000 prefix
completions) through `vodlake.search`, timed one at a time from the client.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from vodlake.config import load_config
from vodlake.demo.search import misspell
from vodlake.lake.session import get_spark
from vodlake.search.index import (
    alias_name,
    client,
    create_video_index,
    finish_bulk_load,
    search_videos,
    suggest_titles,
)
from vodlake.search.writes import write_documents
from vodlake.transforms.search_docs import to_documents

# Title words: three per title gives about a million distinct titles.
_TITLE_WORDS = """
ocean deep city lights mountain echo desert wind forest song night train river dawn silent
storm golden harbor winter garden crimson sky hidden valley broken mirror last frontier paper
moon iron bridge velvet road lost empire electric dream northern star quiet island falling
water burning shore glass tower wild horses distant thunder salt marsh copper canyon midnight
circus secret archive frozen lake shadow market blue horizon emerald coast silver lining
crooked path open range hollow earth bright meadow dark matter lunar tide solar flare stone
circle amber field scarlet letter green valley rapid current twin peaks lonely planet urban
jungle coral reef
"""
WORDS = tuple(_TITLE_WORDS.split())
GENRES = ("drama", "comedy", "documentary", "thriller", "nature", "animation", "sport", "music")
LANGUAGES = ("en", "fr", "de", "es", "pt", "ja")


def _pick(values: Sequence[str], salt: int) -> Column:
    """A value chosen by a hash of the row id (deterministic, evenly spread)."""
    choice = F.pmod(F.xxhash64("id", F.lit(salt)), F.lit(len(values))) + 1
    return F.element_at(F.array(*[F.lit(v) for v in values]), choice.cast("int"))


def catalog(spark: SparkSession, rows: int) -> DataFrame:
    """`rows` ready videos with three-word titles, deterministic for a given row count."""
    title = F.initcap(F.concat_ws(" ", _pick(WORDS, 1), _pick(WORDS, 2), _pick(WORDS, 3)))
    start = int(datetime(2026, 11, 1, tzinfo=timezone.utc).timestamp())
    return spark.range(rows).select(
        F.format_string("bench-%07d", "id").alias("video_id"),
        F.lit(1).cast("long").alias("seq"),
        F.lit("ready").alias("status"),
        title.alias("title"),
        F.concat(F.lit("A film about "), F.lower(title)).alias("description"),
        F.array(_pick(WORDS, 4), _pick(WORDS, 5)).alias("tags"),
        F.array(_pick(GENRES, 6)).alias("genres"),
        _pick(LANGUAGES, 7).alias("language"),
        (F.pmod(F.xxhash64("id", F.lit(8)), F.lit(7200)) + 60).cast("double").alias("duration_s"),
        F.array(F.lit("360p"), F.lit("720p")).alias("renditions"),
        F.timestamp_seconds(F.lit(start) + F.col("id")).alias("updated_at"),
        # Zipf-like popularity: a few very popular videos, a long tail
        (F.lit(1000.0) / (F.pmod(F.xxhash64("id", F.lit(9)), F.lit(1000)) + 1)).alias("popularity"),
    )


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2, help="parallel_bulk thread_count")
    parser.add_argument("--chunk", type=int, default=1000, help="parallel_bulk chunk_size")
    parser.add_argument("--env", default="local")
    args = parser.parse_args(argv)

    run = uuid.uuid4().hex[:8]
    cfg = load_config(args.env, overrides={"elasticsearch": {"index_prefix": f"bench-{run}"}})
    spark = get_spark(cfg, app_name="vodlake-bench-search")
    es = client(cfg)
    hadoop_index, bulk_index = f"bench-{run}-hadoop", f"bench-{run}-bulk"
    print(f"node {cfg.elasticsearch.url}, {args.rows:,} rows, spark {spark.sparkContext.master}")
    try:
        docs = to_documents(catalog(spark, args.rows)).persist()
        t_prep, n = timed(docs.count)
        assert n == args.rows
        print(f"documents prepared and cached in Spark: {t_prep:.1f}s")

        # es-hadoop: a fresh index, as a reindex writes it
        create_video_index(es, hadoop_index, bulk=True)
        t_hadoop, _ = timed(lambda: write_documents(spark, cfg, docs, hadoop_index, "index"))
        finish_bulk_load(es, hadoop_index)
        assert es.count(index=hadoop_index)["count"] == n
        # es-hadoop upsert over the loaded index, as the incremental sync writes
        es.indices.put_settings(index=hadoop_index, settings={"index": {"refresh_interval": -1}})
        t_upsert, _ = timed(lambda: write_documents(spark, cfg, docs, hadoop_index, "upsert"))
        finish_bulk_load(es, hadoop_index)
        assert es.count(index=hadoop_index)["count"] == n

        # elasticsearch-py parallel_bulk from the same rows
        from elasticsearch import helpers

        create_video_index(es, bulk_index, bulk=True)
        t_collect, rows = timed(lambda: [r.asDict(recursive=True) for r in docs.collect()])

        def send() -> int:
            actions = ({"_index": bulk_index, "_id": r["video_id"], "_source": r} for r in rows)
            sent = 0
            for ok, item in helpers.parallel_bulk(
                es, actions, thread_count=args.threads, chunk_size=args.chunk
            ):
                if not ok:
                    raise RuntimeError(f"parallel_bulk failed: {item}")
                sent += 1
            return sent

        t_bulk, sent = timed(send)
        finish_bulk_load(es, bulk_index)
        assert sent == n and es.count(index=bulk_index)["count"] == n
        docs.unpersist()

        # search latency through the alias, over the es-hadoop-loaded index
        es.indices.put_alias(index=hadoop_index, name=alias_name(cfg))
        rng = random.Random(7)
        sample = [r["title"] for r in rng.sample(rows, min(len(rows), 2 * args.queries))]
        queries = [misspell(t) for t in sample[: args.queries]]
        for q in queries[:50]:  # warm caches and the connection pool
            search_videos(es, cfg, q, limit=10)
        latencies, right = [], 0
        for title, q in zip(sample, queries, strict=False):
            t, hits = timed(lambda q=q: search_videos(es, cfg, q, limit=10))
            latencies.append(t * 1000)
            right += bool(hits) and hits[0]["title"] == title
        prefixes = [t[: rng.randint(3, 6)] for t in sample[args.queries :]]
        suggest_ms = [timed(lambda p=p: suggest_titles(es, cfg, p))[0] * 1000 for p in prefixes]
    finally:
        for name in (hadoop_index, bulk_index):
            es.options(ignore_status=404).indices.delete(index=name)

    hadoop_rate, upsert_rate = n / t_hadoop, n / t_upsert
    bulk_rate, bulk_rows_rate = n / t_bulk, n / (t_collect + t_bulk)
    print()
    print(f"{'writer':<46} {'seconds':>8} {'docs/s':>9}")
    print(f"{'es-hadoop (index, fresh index)':<46} {t_hadoop:8.1f} {hadoop_rate:9,.0f}")
    print(f"{'es-hadoop (upsert, over loaded index)':<46} {t_upsert:8.1f} {upsert_rate:9,.0f}")
    label = f"parallel_bulk x{args.threads}, rows collected + sent"
    print(f"{label:<46} {t_collect + t_bulk:8.1f} {bulk_rows_rate:9,.0f}")
    label = f"parallel_bulk x{args.threads}, sending only"
    print(f"{label:<46} {t_bulk:8.1f} {bulk_rate:9,.0f}")
    print(
        f"ratio es-hadoop (index) / parallel_bulk: {hadoop_rate / bulk_rows_rate:.2f} "
        f"(from rows), {hadoop_rate / bulk_rate:.2f} (sending only)"
    )
    print(
        f"search, {len(latencies)} typo'd titles over {n:,} docs: "
        f"p50 {statistics.median(latencies):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
        f"top hit is the intended title {right / len(latencies):.1%}"
    )
    print(
        f"suggest, {len(suggest_ms)} prefixes: p50 {statistics.median(suggest_ms):.1f} ms, "
        f"p99 {percentile(suggest_ms, 99):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
