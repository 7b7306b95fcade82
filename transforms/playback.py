"""Pure transforms for playback telemetry: Kafka records -> bronze -> parsed, classified events.

Nothing here reads or writes; every function takes DataFrames and returns one, so the rules
are unit-tested on tiny frames and the streaming queries only wire them to Kafka and Delta.

Classification (one reason per bad row, the first that applies, in this order):

  oversized_payload        value longer than `max_payload_bytes` (never parsed)
  malformed_json           no value, not JSON, not a JSON object, or trailing text
  missing_field:<name>     a required field (non-nullable in PLAYBACK_EVENT) absent, null or blank
  wrong_type:<name>        a field present with the wrong JSON type (e.g. "chunk_idx": "5",
                           "bytes": 1.5, event_time not an ISO-8601 instant with a zone)
  unknown_event_type       event_type not one of PLAYBACK_EVENT_TYPES
  future_timestamp         event_time later than the moment the lake received the row
                           (bronze `ingested_at`) plus `future_skew_s`

"Now" for the future check is the row's bronze `ingested_at`, not the wall clock, so the verdict
is the same when a micro-batch is replayed after a crash (a replayed batch must classify every
row exactly as the first attempt did, or a row could land in silver and in quarantine).

Spark's JSON reader turns a number or boolean given for a *string* field into its text
("device": 7 reads as "7"); such values are not called wrong types here, and the allowed-value
rules of the quality suite (vodlake.quality) reject them where the field is an enumeration.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from vodlake.schemas import PLAYBACK_EVENT, PLAYBACK_EVENT_TYPES, QUARANTINE, SILVER_PLAYBACK

REASON_OVERSIZED = "oversized_payload"
REASON_MALFORMED = "malformed_json"
REASON_MISSING = "missing_field"
REASON_WRONG_TYPE = "wrong_type"
REASON_UNKNOWN_EVENT_TYPE = "unknown_event_type"
REASON_FUTURE = "future_timestamp"

# The quarantine `source` of rows rejected on their way from bronze to silver.
QUARANTINE_SOURCE = "bronze_playback"

EVENT_FIELDS: tuple[str, ...] = tuple(f.name for f in PLAYBACK_EVENT.fields)
REQUIRED_FIELDS: tuple[str, ...] = tuple(f.name for f in PLAYBACK_EVENT.fields if not f.nullable)
SILVER_COLUMNS: tuple[str, ...] = tuple(f.name for f in SILVER_PLAYBACK.fields)
QUARANTINE_COLUMNS: tuple[str, ...] = tuple(f.name for f in QUARANTINE.fields)

_CORRUPT = "_corrupt_record"
# The typed reading; event_time stays text so its shape is checked before the cast. With
# partial results (Spark 3.4+) a field of the wrong type comes back null, the others filled,
# and the whole text lands in _corrupt_record.
_TYPED_SCHEMA = StructType(
    [
        StructField(f.name, StringType() if f.name == "event_time" else f.dataType)
        for f in PLAYBACK_EVENT.fields
    ]
    + [StructField(_CORRUPT, StringType())]
)
# Spark reads any JSON value into a string field (a number as its text), so only the
# non-string fields can have a wrong type. For rows the typed reading flagged, these fields
# are read again as text to tell "absent" from "present with the wrong type".
_TYPED_FIELDS: tuple[str, ...] = tuple(
    f.name
    for f in PLAYBACK_EVENT.fields
    if f.name != "event_time" and not isinstance(f.dataType, StringType)
)
_RAW_SCHEMA = StructType(
    [StructField(name, StringType()) for name in _TYPED_FIELDS]
    + [StructField(_CORRUPT, StringType())]
)
# ISO-8601 instant with a zone, as the generator writes it (2026-11-01T20:15:03.123Z).
# CAST(string AS TIMESTAMP) alone would accept "12345" (year 12345) or a bare date.
_TIME_SHAPE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"
_JSON_WS_CHARS = " \t\r\n"
# The shape-checked event_time text (`_time_text`) as a timestamp. CAST(text AS TIMESTAMP)
# resolves each row's zone by name, compiling two regular expressions every time (7% of the
# parse). The common 'Z' suffix is read instead as a wall-clock time without zone, taken as
# microseconds from the epoch in UTC: the same instant whatever the session time zone. Other
# offsets (+01:00) take the cast.
_INSTANT_SQL = (
    "CASE WHEN endswith(_time_text, 'Z') THEN timestamp_micros(timestampdiff(MICROSECOND,"
    " TIMESTAMP_NTZ'1970-01-01 00:00:00', CAST(substring_index(_time_text, 'Z', 1)"
    " AS TIMESTAMP_NTZ))) ELSE CAST(_time_text AS TIMESTAMP) END"
)


def bronze_from_kafka(
    kafka_df: DataFrame, batch_id: int, ingested_at: Column | None = None
) -> DataFrame:
    """Kafka source rows -> bronze_playback columns: the raw bytes plus where and when they came."""
    return kafka_df.select(
        F.col("key").cast("string").alias("key"),
        F.col("value"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        (ingested_at if ingested_at is not None else F.current_timestamp()).alias("ingested_at"),
        F.lit(batch_id).cast("long").alias("batch_id"),
    )


def utc_date(ts: Column) -> Column:
    """The UTC calendar date of a timestamp, whatever the session time zone is."""
    return F.date_from_unix_date(F.floor(F.unix_seconds(ts) / 86_400).cast("int"))


def _blank(c: Column) -> Column:
    return c.isNull() | (F.trim(c) == "")


def parse_playback(
    bronze: DataFrame,
    max_payload_bytes: int,
    future_skew_s: int,
    rules: Callable[[Callable[[str], Column]], Column] | None = None,
    carry: Sequence[str] = (),
) -> DataFrame:
    """Bronze rows -> typed event columns, event_date, Kafka position, raw_value and `reason`.

    `reason` is null for a valid event and names the first failed check otherwise (see the
    module docstring). Every input row comes out exactly once: nothing is dropped here.
    `rules`, if given, is asked for one more reason column after the checks above, given a
    resolver of column names to the typed values (the quality suite compiled to predicates, so
    its verdict costs no extra pass over the batch). `carry` names input columns passed through
    unchanged (the ingest keeps the bronze columns beside the parse, so one cached frame feeds
    the bronze append and silver from a single read of Kafka).
    """
    stages = _parse_stages(max_payload_bytes, future_skew_s, rules, tuple(carry))
    frame = bronze
    for columns in stages:
        frame = frame.select(*columns)
    return frame


@functools.lru_cache(maxsize=32)
def _parse_stages(
    max_payload_bytes: int,
    future_skew_s: int,
    rules: Callable[[Callable[[str], Column]], Column] | None,
    carry: tuple[str, ...],
) -> tuple[tuple[Column | str, ...], ...]:
    """The parse's projections, built once per setting and reused for every frame.

    Why cached: the columns are unresolved expressions that hold no data, and building them is
    well over a thousand calls into the JVM (about 0.3 s), which a streaming query would
    otherwise pay in front of every micro-batch. The same `rules` object must be passed each
    time for the cache to hit.
    """
    text = F.col("value").cast("string")
    oversized = F.coalesce(F.octet_length("value") > F.lit(max_payload_bytes), F.lit(False))
    body = F.when(~oversized, text)  # an oversized payload is never parsed
    options = {"columnNameOfCorruptRecord": _CORRUPT}
    # one object and nothing around it but JSON whitespace (Spark's reader accepts a leading
    # object followed by anything). A producer's payload starts with '{' and ends with '}', and
    # two byte comparisons say so; only the others are trimmed (btrim with a set of characters
    # walks the whole payload, which cost 14% of the parse when every row paid it).
    trimmed = F.btrim(body, F.lit(_JSON_WS_CHARS))
    framed = F.when(body.startswith("{") & body.endswith("}"), F.lit(True)).otherwise(
        trimmed.startswith("{") & trimmed.endswith("}")
    )
    first = (
        text.alias("raw_value"),
        oversized.alias("_oversized"),
        F.from_json(body, _TYPED_SCHEMA, options).alias("_typed"),
        F.coalesce(framed, F.lit(False)).alias("_framed"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("ingested_at").alias("received_at"),
        *carry,
    )
    corrupt = F.col(f"_typed.{_CORRUPT}").isNotNull()
    typed_f = {name: F.col(f"_typed.{name}") for name in EVENT_FIELDS}
    time_text = typed_f["event_time"]
    # The second, text-only reading runs only for rows the first one flagged (CASE WHEN
    # evaluates its value lazily), so a valid event is parsed once. event_time is a column of
    # its own, so its shape check and cast run once per row: as an expression they would run
    # again in every check and rule that reads it.
    second = (
        "*",
        F.when(corrupt & F.col("_framed"), F.from_json("raw_value", _RAW_SCHEMA, options)).alias(
            "_raw"
        ),
        F.when(time_text.rlike(_TIME_SHAPE), time_text).alias("_time_text"),
    )
    instant = ("*", F.expr(_INSTANT_SQL).alias("_event_time"))
    event_time = F.col("_event_time")

    raw_bad = F.col("_raw").isNull() | F.col(f"_raw.{_CORRUPT}").isNotNull()
    malformed = F.col("_typed").isNull() | ~F.col("_framed") | (corrupt & raw_bad)
    checks: list[Column] = [
        F.when(F.col("_oversized"), F.lit(REASON_OVERSIZED)),
        F.when(malformed, F.lit(REASON_MALFORMED)),
    ]
    checks += [
        F.when(_blank(typed_f[name]), F.lit(f"{REASON_MISSING}:{name}")) for name in REQUIRED_FIELDS
    ]
    checks += [
        F.when(
            corrupt & F.col(f"_raw.{name}").isNotNull() & typed_f[name].isNull(),
            F.lit(f"{REASON_WRONG_TYPE}:{name}"),
        )
        for name in _TYPED_FIELDS
    ]
    checks += [
        F.when(
            time_text.isNotNull() & event_time.isNull(), F.lit(f"{REASON_WRONG_TYPE}:event_time")
        ),
        # flagged by the reader for a reason none of the checks above names: never let it pass
        F.when(corrupt, F.lit(REASON_MALFORMED)),
    ]
    latest_allowed = F.col("received_at") + F.expr(f"INTERVAL {int(future_skew_s)} SECONDS")
    checks += [
        F.when(
            ~typed_f["event_type"].isin(*PLAYBACK_EVENT_TYPES), F.lit(REASON_UNKNOWN_EVENT_TYPE)
        ),
        F.when(event_time > latest_allowed, F.lit(REASON_FUTURE)),
    ]
    values = {**typed_f, "event_time": event_time}
    if rules is not None:
        checks.append(rules(lambda name: values[name] if name in values else F.col(name)))
    third = (
        *[values[name].alias(name) for name in EVENT_FIELDS],
        utc_date(event_time).alias("event_date"),
        "kafka_partition",
        "kafka_offset",
        "received_at",
        "raw_value",
        F.coalesce(*checks).alias("reason"),
        *carry,
    )
    # Only a rejected row keeps its text (quarantine needs it; bronze keeps every payload):
    # callers cache this frame, and payloads are most of its bytes.
    rejected = F.col("reason").isNotNull()
    names = [*EVENT_FIELDS, "event_date", "kafka_partition", "kafka_offset", "received_at"]
    last = (
        *names,
        F.when(rejected, F.col("raw_value")).alias("raw_value"),
        "reason",
        *carry,
    )
    return first, second, instant, third, last


def valid_events(parsed: DataFrame) -> DataFrame:
    return parsed.where(F.col("reason").isNull())


def rejected_events(parsed: DataFrame) -> DataFrame:
    return parsed.where(F.col("reason").isNotNull())


def dedupe_events(events: DataFrame) -> DataFrame:
    """One row per event_id: the copy with the earliest event_time, then Kafka position.

    The choice depends only on the rows, never on the order they arrived in, so a replayed
    micro-batch keeps the same copy and shuffled input gives the same result.
    """
    order = Window.partitionBy("event_id").orderBy("event_time", "kafka_partition", "kafka_offset")
    return events.withColumn("_n", F.row_number().over(order)).where("_n = 1").drop("_n")


def duplicate_candidates(
    events: DataFrame, stored: DataFrame, key: Column | None = None
) -> DataFrame:
    """event_ids seen more than once among a batch's `events` and the `stored` ones.

    Every copy shares its id with another row, so this is a superset of the ids that dedupe
    has to decide on, found by one hash aggregation of ids instead of sorting whole rows.
    In a healthy stream it is empty or tiny, so the exact rules run on a handful of rows.
    With `key` (an expression of event_id, e.g. its 64-bit hash) the keys seen more than once
    come out instead, in column `key`: a hash collision only adds a candidate, never hides one,
    and 8-byte keys are cheaper to shuffle and aggregate than 36-character ids.
    """
    name = "event_id" if key is None else "key"
    key = F.col("event_id") if key is None else key
    ids = events.select(key.alias(name)).unionByName(stored.select(key.alias(name)))
    return ids.groupBy(name).count().where(F.col("count") > 1).select(name)


def to_silver(events: DataFrame) -> DataFrame:
    """Valid events in silver_playback's column order and types."""
    return events.select(
        *[F.col(f.name).cast(f.dataType).alias(f.name) for f in SILVER_PLAYBACK.fields]
    )


def with_raw_value(rejected: DataFrame, bronze: DataFrame) -> DataFrame:
    """Rows rejected after parsing (by the quality suite) with their payload text from bronze.

    parse_playback keeps the text of rows it rejects only; rows it passed lose it, so that a
    cached batch does not hold every payload twice. `rejected` is small (the quality suite
    lists its rows on the driver), so it is broadcast and bronze is not shuffled.
    """
    text = bronze.select(
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("value").cast("string").alias("raw_value"),
    )
    keys = ["kafka_partition", "kafka_offset"]
    return text.join(F.broadcast(rejected.drop("raw_value")), keys, "inner")


def to_quarantine(rejected: DataFrame, source: str = QUARANTINE_SOURCE) -> DataFrame:
    """Rejected rows (with `reason`, `raw_value`, Kafka position) in quarantine columns."""
    return rejected.select(
        F.lit(source).alias("source"),
        F.col("reason"),
        F.col("raw_value"),
        F.col("kafka_partition").cast("int").alias("kafka_partition"),
        F.col("kafka_offset").cast("long").alias("kafka_offset"),
        F.current_timestamp().alias("quarantined_at"),
    )


def raw_event_id(bronze: DataFrame) -> DataFrame:
    """(partition, offset, event_id) of bronze rows, read the way parse_playback reads it."""
    schema = StructType([StructField("event_id", StringType())])
    return bronze.select(
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.from_json(F.col("value").cast("string"), schema)["event_id"].alias("event_id"),
    )


def removed_duplicates(bronze: DataFrame, silver: DataFrame, quarantine: DataFrame) -> DataFrame:
    """Bronze rows that are neither a silver row's source nor quarantined, yet whose event_id is
    in silver: the copies the dedupe removed. Anything else unaccounted for is a lost row.

    Reconciliation is bronze = silver + quarantine + these rows; a row that silver lost, or a
    row written twice to silver or quarantine, breaks the equation.
    """
    position = ["kafka_partition", "kafka_offset"]
    ids = raw_event_id(bronze)
    return (
        ids.join(silver.select(*position), position, "left_anti")
        .join(quarantine.select(*position), position, "left_anti")
        .join(silver.select("event_id").distinct(), "event_id", "left_semi")
    )
