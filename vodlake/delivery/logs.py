"""Edge request logs: nginx JSON lines -> Kafka `edge-logs` -> bronze/silver/quarantine -> gold.

Shipping (`vodlake edges ship-logs`, no Spark): each edge's access log is tailed from the byte
offset recorded in `<edge>/logs/ship.offset`; whole lines only (nginx may be mid-line) are sent
with the edge id as key, and the offset is advanced (atomically) only after Kafka acknowledged
every line of the round. A crash between the acknowledgement and the offset write sends that
round again on restart, so shipping is at-least-once; the ingest makes it exactly once by
request_id (nginx's $request_id, unique per request). A log file replaced by a new one
(another inode) or truncated is read from its start.

Ingest (`vodlake stream edge_logs`): one query, Kafka -> foreachBatch, like the playback ingest:
the raw records to `bronze_edge_requests`, lines that do not parse to
`quarantine_edge_requests` with their reason, the rest to `edge_requests` (partitioned by
date) unless a row with the same request_id is there already. Every append carries
a batch tag that a run's first batch checks (BatchLedger), so a replayed micro-batch
writes nothing twice.

Gold (`nightly` step `edges`): `gold_edge_daily` of one date from edge_requests and
edge_fills (see transforms.edge_logs.gold_edge_daily).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vodlake.config import Config
from vodlake.delivery import edges
from vodlake.errors import ServiceUnavailable

if TYPE_CHECKING:
    from vodlake.lake.streams import BatchLedger

Log = Callable[[str], None]
EDGE_LOG_QUERY = "edge_log_ingest"
MAX_ROUND_BYTES = 8 << 20


# --- shipping (no Spark) ------------------------------------------------------------------------


def offset_path(lay: edges.EdgeLayout) -> Path:
    return lay.logs / "ship.offset"


def read_offset(lay: edges.EdgeLayout) -> tuple[int, int]:
    """(inode, byte offset) shipped so far; (0, 0) before the first round."""
    try:
        data = json.loads(offset_path(lay).read_text())
        return int(data["inode"]), int(data["offset"])
    except (OSError, ValueError, KeyError):
        return 0, 0


def write_offset(lay: edges.EdgeLayout, inode: int, offset: int) -> None:
    path = offset_path(lay)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"inode": inode, "offset": offset}))
    os.replace(tmp, path)


def pending_lines(lay: edges.EdgeLayout) -> tuple[list[bytes], int, int]:
    """Whole lines not shipped yet, with the (inode, offset) to record once they are acked."""
    try:
        st = os.stat(lay.access_log)
    except FileNotFoundError:
        return [], 0, 0
    inode, offset = read_offset(lay)
    if inode != st.st_ino or offset > st.st_size:
        offset = 0  # a new or truncated file
    with open(lay.access_log, "rb") as fh:
        fh.seek(offset)
        data = fh.read(MAX_ROUND_BYTES)
    end = data.rfind(b"\n")
    if end < 0:
        return [], st.st_ino, offset
    chunk = data[: end + 1]
    lines = [line for line in chunk.split(b"\n") if line.strip()]
    return lines, st.st_ino, offset + len(chunk)


def _producer(cfg: Config) -> Any:
    from kafka import KafkaProducer
    from kafka.errors import NoBrokersAvailable

    try:
        return KafkaProducer(
            bootstrap_servers=cfg.kafka.bootstrap_servers,
            acks="all",
            linger_ms=20,
            max_in_flight_requests_per_connection=1,  # keep each edge's lines in order
            retries=5,
        )
    except NoBrokersAvailable:
        raise ServiceUnavailable(
            f"Kafka is not reachable at {cfg.kafka.bootstrap_servers}",
            hint="start it with `vodlake services up`",
        ) from None


def ship_round(cfg: Config, producer: Any, lay: edges.EdgeLayout, topic: str) -> int:
    """Send the edge's pending lines; the offset moves only after every send is acked."""
    lines, inode, offset = pending_lines(lay)
    if not lines:
        if inode:
            write_offset(lay, inode, offset)
        return 0
    key = lay.edge.id.encode()
    futures = [producer.send(topic, key=key, value=line) for line in lines]
    producer.flush()
    for fut in futures:
        fut.get(timeout=30)  # raises: the offset stays, the round is sent again
    write_offset(lay, inode, offset)
    return len(lines)


def ship(
    cfg: Config,
    edge_ids: list[str] | None = None,
    *,
    once: bool = True,
    interval: float = 1.0,
    log: Log = print,
) -> int:
    """Ship every edge's new log lines; with `once`, until none is pending. Returns lines sent."""
    from vodlake.lake import kafka_io

    topic = cfg.kafka.topics.edge_logs
    kafka_io.ensure_topic(cfg, topic)
    lays = edges.layouts(cfg, edge_ids)
    producer = _producer(cfg)
    total = 0
    try:
        while True:
            sent = {lay.edge.id: ship_round(cfg, producer, lay, topic) for lay in lays}
            total += sum(sent.values())
            if any(sent.values()):
                log(
                    f"shipped {sum(sent.values()):,} lines to {topic}: "
                    + ", ".join(f"{k} {v}" for k, v in sent.items() if v)
                )
            if once and not any(sent.values()):
                return total
            if not any(sent.values()):
                time.sleep(interval)
    finally:
        producer.close()


def run_shipper(
    cfg: Config, edge_ids: list[str] | None, *, once: bool, interval: float = 1.0
) -> int:
    total = ship(cfg, edge_ids, once=once, interval=interval)
    print(f"shipped {total:,} lines in all")
    return 0


# --- ingest (Spark) -----------------------------------------------------------------------------


def write_edge_log_batch(
    batch: Any, batch_id: int, *, cfg: Config, app_id: str, ledger: BatchLedger | None = None
) -> None:
    """One micro-batch: bronze, quarantine, then new request_ids to edge_requests."""
    from pyspark.sql import functions as F

    from vodlake.lake.streams import write_delta_idempotent
    from vodlake.lake.tables import Tables
    from vodlake.transforms import edge_logs as T
    from vodlake.transforms.playback import bronze_from_kafka, to_quarantine

    tables = Tables(cfg)
    rows = bronze_from_kafka(batch, batch_id, F.col("_ingested_at")).persist()
    parsed = T.parse_edge_logs(rows).persist()
    try:
        write_delta_idempotent(
            rows, tables.path("bronze_edge_requests"), app_id, batch_id, ledger=ledger
        )
        stats = parsed.agg(
            F.count(F.when(F.col("reason").isNotNull(), 1)).alias("rejected"),
            F.min(F.when(F.col("reason").isNull(), F.col("date"))).alias("first"),
            F.max(F.when(F.col("reason").isNull(), F.col("date"))).alias("last"),
        ).first()
        if stats["rejected"]:
            quarantine = to_quarantine(T.rejected_lines(parsed), T.QUARANTINE_SOURCE)
            write_delta_idempotent(
                quarantine,
                tables.path("quarantine_edge_requests"),
                app_id,
                batch_id,
                ledger=ledger,
            )
        if stats["first"] is not None:
            silver = tables.path("edge_requests")
            stored = (
                batch.sparkSession.read.format("delta")
                .load(silver)
                .where(F.col("date").between(F.lit(stats["first"]), F.lit(stats["last"])))
                .select("request_id")
            )
            new = T.valid_requests(parsed).join(stored, "request_id", "left_anti")
            write_delta_idempotent(new, silver, app_id, batch_id, ledger=ledger)
    finally:
        parsed.unpersist()
        rows.unpersist()


def start_ingest(spark: Any, cfg: Config, *, topic: str | None = None, once: bool | None = None):
    """Kafka `edge-logs` -> bronze_edge_requests, quarantine_edge_requests, edge_requests."""
    from pyspark.sql import functions as F

    from vodlake.lake.streams import BatchLedger, kafka_source, start_foreach_batch
    from vodlake.lake.tables import Tables

    tables = Tables(cfg)
    for name in ("bronze_edge_requests", "edge_requests", "quarantine_edge_requests"):
        tables.ensure(spark, name)
    checkpoint = tables.checkpoint(EDGE_LOG_QUERY)
    app_id = f"{EDGE_LOG_QUERY}:{checkpoint}"  # a new checkpoint restarts batch ids at 0
    ledger = BatchLedger(app_id)  # this run's: its first batch asks the tables what they hold

    def write_batch(batch: Any, batch_id: int) -> None:
        write_edge_log_batch(batch, batch_id, cfg=cfg, app_id=app_id, ledger=ledger)

    source = kafka_source(spark, cfg, topic or cfg.kafka.topics.edge_logs).withColumn(
        "_ingested_at", F.current_timestamp()
    )
    return start_foreach_batch(source, EDGE_LOG_QUERY, checkpoint, write_batch, cfg, once)


def table_counts(spark: Any, cfg: Config) -> dict[str, int]:
    from vodlake.lake.tables import Tables

    tables = Tables(cfg)
    names = ("bronze_edge_requests", "edge_requests", "quarantine_edge_requests")
    return {n: tables.read(spark, n).count() if tables.exists(spark, n) else 0 for n in names}


# --- gold (Spark, nightly) ----------------------------------------------------------------------


def gold_daily(spark: Any, cfg: Config, day: date, log: Log = print) -> dict[str, Any] | None:
    """gold_edge_daily of `day` (replaced); None when no edge has logged anything yet."""
    from pyspark.sql import functions as F

    from vodlake.lake.tables import Tables
    from vodlake.schemas import EDGE_FILLS, GOLD_EDGE_DAILY
    from vodlake.transforms.edge_logs import gold_edge_daily

    tables = Tables(cfg)
    if not tables.exists(spark, "edge_requests"):
        log("edge gold skipped: no edge_requests table yet (vodlake stream edge_logs)")
        return None
    requests = tables.read(spark, "edge_requests").where(F.col("date") == F.lit(day))
    if tables.exists(spark, "edge_fills"):
        fills = tables.read(spark, "edge_fills")
    else:
        fills = spark.createDataFrame([], EDGE_FILLS)
    fills = fills.withColumn("day", F.to_date("filled_at")).where(F.col("day") == F.lit(day))
    gold = gold_edge_daily(requests, fills).select(
        *[F.col(f.name).cast(f.dataType) for f in GOLD_EDGE_DAILY.fields]
    )
    tables.replace_date(spark, "gold_edge_daily", gold, day)
    rows = tables.read(spark, "gold_edge_daily").where(F.col("date") == F.lit(day)).collect()
    for r in sorted(rows, key=lambda r: r["edge_id"]):
        ratio = "-" if r["byte_hit_ratio"] is None else f"{r['byte_hit_ratio']:.3f}"
        log(
            f"  {r['edge_id']}: {r['requests']:,} requests, {r['bytes_served']:,} B served, "
            f"byte hit ratio {ratio}, origin {r['origin_bytes']:,} B, fill peer "
            f"{r['fill_bytes_peer']:,} B origin {r['fill_bytes_origin']:,} B, TTFB p50/p95 "
            f"{r['ttfb_p50_ms'] or 0:.1f}/{r['ttfb_p95_ms'] or 0:.1f} ms"
        )
    return {"date": day.isoformat(), "edges": len(rows)}
