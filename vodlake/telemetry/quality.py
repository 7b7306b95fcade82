"""The Great Expectations suite for silver playback events, and row-level quarantine from it.

What GX does here, precisely: the suite below is the contract of a silver row (keys not null,
value ranges, allowed values, event_time no later than its arrival plus a small skew). Each
micro-batch of parsed events is validated by GX 1.24 as one Spark batch (ephemeral context,
`add_spark(persist=False)`: the caller already persisted the batch), in two passes:

1. the whole suite with result format BOOLEAN_ONLY: GX bundles the aggregate metrics into a
   few Spark jobs and says which expectations failed;
2. only when some failed: those expectations again with result format COMPLETE and
   `unexpected_index_column_names` = the rows' Kafka position (kafka_partition, kafka_offset),
   so GX returns the position of every failing row. The positions are joined back to the batch
   and each failing row is tagged with the first rule it broke (suite order).

So GX decides which rows fail; vodlake only joins its answer back. Rows GX does not list pass.

The streaming ingest uses a cheaper path with the same outcome (`RowRules`): each expectation of
the suite, read from its GX configuration, becomes a Spark predicate evaluated in the parse
projection, so a row's verdict ("gx:<first broken rule>") costs no extra pass. GX still judges
the batch: the same pass picks, for every rule, the rows that would break it if any row does
(the minimum and maximum of a range rule's column, a null for a not-null rule, a value outside
the set for a set rule, each under the rule's row condition, among the rows headed for silver),
and GX validates those few rows with the whole suite on pandas. If GX fails any of them, the
compiled predicates disagree with GX, and the batch goes through `validate` above, whose row
verdicts win. An expectation the compiler does not know makes `RowRules.compile` return None,
and then every batch goes through `validate`.

Costs and limits, honestly: even the cheap pass is about a dozen Spark jobs per batch (1-3 s
on this shared 2-core machine, whatever the batch size), so large batches amortize it; the
failing rows' positions are collected to the driver, which suits rare bad data and would not
suit a batch that is mostly bad. GX sees typed columns only, so structural problems (malformed
JSON, wrong types, oversized payloads) are classified before GX by
vodlake.transforms.playback.parse_playback; rows that reach GX already passed those checks
(including the event-type and future-time checks, which the suite repeats as its contract).

"Now" for the event_time rule is the row's arrival in the lake (bronze `ingested_at`): the batch
GX sees carries each row's lead, event_time minus arrival in seconds, and the rule bounds it by
`playback.future_skew_s`; so a replayed micro-batch gets the same verdict.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, LongType, StringType, StructField, StructType

from vodlake.config import Config
from vodlake.schemas import PLAYBACK_EVENT_TYPES
from vodlake.telemetry.generator import CACHE_STATUS_UNKNOWN, DEVICES

# Rows are identified by their Kafka position: unique within one topic's bronze table.
ROW_KEYS: tuple[str, ...] = ("kafka_partition", "kafka_offset")
# Reasons written to quarantine for rows GX rejects: "gx:<rule name>".
REASON_PREFIX = "gx:"
# Seconds an event's time is ahead of its arrival in the lake: the not-future rule bounds it.
LEAD = "_event_time_lead_s"
# The generator writes "unknown"; the cache simulator decides hits and misses later.
CACHE_STATUSES: tuple[str, ...] = (CACHE_STATUS_UNKNOWN, "hit", "miss")
KEY_COLUMNS: tuple[str, ...] = (
    "event_id",
    "session_id",
    "user_id",
    "video_id",
    "region",
    "isp",
    "event_type",
    "event_time",
)
# Generous bounds that still catch garbage: a segment is a few MB, a startup ten minutes at most.
RANGES: dict[str, tuple[int, int]] = {
    "bytes": (0, 2**31),
    "chunk_idx": (0, 1_000_000),
    "startup_ms": (0, 600_000),
    "rebuffer_ms": (0, 3_600_000),
}
EARLIEST_EVENT_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


def _gx() -> Any:
    import great_expectations as gx

    return gx


def build_rules(cfg: Config) -> list[tuple[str, Any]]:
    """(rule name, GX expectation) in the order a failing row's reason is chosen."""
    gx = _gx()
    from great_expectations.expectations.row_conditions import Column as Where

    expect = gx.expectations
    is_chunk = Where("event_type") == "chunk"
    rules: list[tuple[str, Any]] = [
        (f"{c}_not_null", expect.ExpectColumnValuesToNotBeNull(column=c)) for c in KEY_COLUMNS
    ]
    rules.append(
        (
            "event_type_allowed",
            expect.ExpectColumnValuesToBeInSet(
                column="event_type", value_set=list(PLAYBACK_EVENT_TYPES)
            ),
        )
    )
    rules.append(
        (
            "event_time_not_future",
            # a column of the same batch, so GX bundles it with the other column metrics
            # (a column-pair expectation would cost its own Spark jobs every batch)
            expect.ExpectColumnValuesToBeBetween(
                column=LEAD, max_value=int(cfg.playback.future_skew_s)
            ),
        )
    )
    rules.append(
        (
            "event_time_after_2000",
            expect.ExpectColumnValuesToBeBetween(
                column="event_time", min_value=EARLIEST_EVENT_TIME
            ),
        )
    )
    for column, (low, high) in RANGES.items():
        rules.append(
            (
                f"{column}_in_range",
                expect.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high),
            )
        )
    rules.append(
        (
            "chunk_has_index",
            expect.ExpectColumnValuesToNotBeNull(column="chunk_idx", row_condition=is_chunk),
        )
    )
    rules.append(
        (
            "chunk_has_bytes",
            expect.ExpectColumnValuesToBeBetween(
                column="bytes", min_value=1, row_condition=is_chunk
            ),
        )
    )
    allowed: list[tuple[str, tuple[str, ...]]] = [
        ("device", DEVICES),
        ("cache_status", CACHE_STATUSES),
        ("region", tuple(cfg.topology.regions)),
        ("isp", tuple(cfg.topology.isps)),
        ("edge_id", tuple(e.id for e in cfg.topology.edges)),
    ]
    for column, values in allowed:
        if values:  # an empty topology list means "not configured", not "nothing allowed"
            rules.append(
                (
                    f"{column}_allowed",
                    expect.ExpectColumnValuesToBeInSet(column=column, value_set=list(values)),
                )
            )
    return rules


def build_suite(cfg: Config, name: str = "silver_playback") -> Any:
    """The suite as a GX ExpectationSuite; each expectation's meta carries its rule name."""
    gx = _gx()
    suite = gx.ExpectationSuite(name=name)
    for rule, expectation in build_rules(cfg):
        expectation.meta = {"rule": rule}
        suite.add_expectation(expectation)
    return suite


@dataclass
class QualityOutcome:
    """One batch's verdict: rows that pass, rows that fail (with `reason`), per-rule counts."""

    passed: DataFrame
    failed: DataFrame
    success: bool
    failures: dict[str, int] = field(default_factory=dict)


class PlaybackQuality:
    """A GX ephemeral context and the suite, built once per query and used for every batch."""

    def __init__(self, cfg: Config) -> None:
        gx = _gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = self.context.data_sources.add_spark(
            f"playback-{uuid.uuid4().hex[:8]}", persist=False
        )
        asset = source.add_dataframe_asset("silver_playback_batch")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("micro_batch")
        self.suite = self.context.suites.add(build_suite(cfg))
        self.rule_order = [e.meta["rule"] for e in self.suite.expectations]
        self._gx = gx
        # fresh expectation objects for the second pass (an expectation belongs to one suite)
        self._fresh = {rule: _maker(cfg, rule) for rule in self.rule_order}
        self.validations = 0
        # the same suite on pandas, for the few witness rows of RowRules
        pandas_source = self.context.data_sources.add_pandas(f"witness-{uuid.uuid4().hex[:8]}")
        pandas_asset = pandas_source.add_dataframe_asset("silver_playback_witnesses")
        self.witness_batches = pandas_asset.add_batch_definition_whole_dataframe("witnesses")
        self.row_rules = RowRules.compile(self.suite.expectations)

    def confirm(self, events: DataFrame, stats: Row) -> QualityOutcome:
        """The verdict for `events`, rows the compiled rules passed, with `stats` holding the
        witness aggregates of RowRules (computed in the same pass as the rules).

        GX validates the witness rows; only if it finds a broken rule there does GX check every
        row (`validate`), and its row verdicts win. Without compiled rules it is `validate`.
        """
        if self.row_rules is None:
            return self.validate(events)
        resolve = with_lead(F.col)
        columns = [
            (F.unix_micros(c) if c == "event_time" else resolve(c)).alias(c)
            for c in self.row_rules.columns()
        ]
        keys = RowRules.witness_keys(stats)
        witnesses = [
            {**r.asDict(), "event_time": _utc(r["event_time"])}
            for r in events.where(witness_key().isin(keys)).select(*columns).collect()
        ]
        failing = self.failing_rules(witnesses) if witnesses else []
        if not failing:
            return QualityOutcome(
                passed=events,
                failed=events.withColumn("reason", F.lit(None).cast("string")).limit(0),
                success=True,
            )
        return self.validate(events)

    def failing_rules(self, witnesses: list[dict[str, Any]]) -> list[str]:
        """Rules of the suite that GX finds broken among `witnesses` (rows as dicts, on pandas)."""
        import pandas as pd

        frame = pd.DataFrame.from_records(witnesses)
        batch = self.witness_batches.get_batch(batch_parameters={"dataframe": frame})
        verdict = batch.validate(self.suite, result_format={"result_format": "BOOLEAN_ONLY"})
        return [self._rule_of(res) for res in verdict.results if not res.success]

    @staticmethod
    def _rule_of(res: Any) -> str:
        if res.exception_info and res.exception_info.get("raised_exception"):
            raise RuntimeError(
                f"a quality rule could not run: {res.exception_info.get('exception_message')}"
            )
        return str(res.expectation_config.meta["rule"])

    def validate(self, events: DataFrame) -> QualityOutcome:
        """Validate `events` (typed columns, Kafka position, received_at) as one GX batch.

        `failed` has the input columns plus `reason` = "gx:<first failed rule>"; `passed` has
        the input columns. The caller should persist `events`: GX and the joins read it again.
        """
        for key in (*ROW_KEYS, "received_at"):
            if key not in events.columns:
                raise ValueError(f"validate() needs column {key!r}")
        batch_df = events.withColumn(LEAD, lead_seconds(F.col("event_time"), F.col("received_at")))
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": batch_df})
        # Pass 1, the whole suite, verdicts only: GX bundles the aggregate metrics into a few
        # Spark jobs. Asking for failing rows here would cost a collect per expectation.
        verdict = batch.validate(self.suite, result_format={"result_format": "BOOLEAN_ONLY"})
        failing = [self._rule_of(res) for res in verdict.results if not res.success]
        tags: dict[tuple[int, int], int] = {}
        failures: dict[str, int] = {}
        if failing:
            # Pass 2, only the failed expectations: GX lists the Kafka position of every row.
            self.validations += 1
            suite = self._gx.ExpectationSuite(name=f"{self.suite.name}-failed-{self.validations}")
            for rule in failing:
                suite.add_expectation(self._fresh[rule]())
            detail = batch.validate(
                suite,
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": list(ROW_KEYS),
                    "return_unexpected_index_query": False,
                    "exclude_unexpected_values": True,
                },
            )
            for res in detail.results:
                rule = self._rule_of(res)
                keys = _failing_keys(res.result.get("unexpected_index_list"))
                count = int(res.result.get("unexpected_count") or 0)
                if len(keys) != count or (res.success and keys):
                    # GX truncated the list: never pass a failing row silently
                    raise RuntimeError(
                        f"quality rule {rule}: GX listed {len(keys)} of {count} failing rows"
                    )
                failures[rule] = count
                order = self.rule_order.index(rule)
                for key in keys:
                    if key not in tags or order < tags[key]:
                        tags[key] = order
        if not tags:
            return QualityOutcome(
                passed=events,
                failed=events.withColumn("reason", F.lit(None).cast("string")).limit(0),
                success=not failing,
                failures=failures,
            )
        schema = StructType(
            [
                StructField(ROW_KEYS[0], IntegerType(), False),
                StructField(ROW_KEYS[1], LongType(), False),
                StructField("reason", StringType(), False),
            ]
        )
        tagged = events.sparkSession.createDataFrame(
            [(p, o, REASON_PREFIX + self.rule_order[i]) for (p, o), i in tags.items()], schema
        )
        keys = list(ROW_KEYS)
        return QualityOutcome(
            passed=events.join(F.broadcast(tagged.select(*keys)), keys, "left_anti"),
            failed=events.join(F.broadcast(tagged), keys, "inner"),
            success=False,
            failures=failures,
        )


def _maker(cfg: Config, rule: str) -> Any:
    def make() -> Any:
        expectation = dict(build_rules(cfg))[rule]
        expectation.meta = {"rule": rule}
        return expectation

    return make


def _failing_keys(index_list: list[dict[str, Any]] | None) -> list[tuple[int, int]]:
    """Row keys from GX's unexpected_index_list, in either of its shapes.

    With exclude_unexpected_values GX returns one dict of key -> list of values; without it,
    one dict per failing row.
    """
    keys: list[tuple[int, int]] = []
    for entry in index_list or []:
        first, second = entry[ROW_KEYS[0]], entry[ROW_KEYS[1]]
        if isinstance(first, list):
            keys.extend((int(p), int(o)) for p, o in zip(first, second, strict=True))
        else:
            keys.append((int(first), int(second)))
    return keys


def _utc(micros: int | None) -> dt.datetime | None:
    if micros is None:
        return None
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=micros)


def witness_key() -> Column:
    """A row of one batch by its Kafka position, in one long (cheap to aggregate)."""
    return F.col(ROW_KEYS[0]).cast("long") * (1 << 40) + F.col(ROW_KEYS[1])


def lead_seconds(event_time: Column, received_at: Column) -> Column:
    """Seconds an event's time is ahead of its arrival (the not-future rule's column)."""
    return (F.unix_micros(event_time) - F.unix_micros(received_at)) / 1e6


def with_lead(resolve: Callable[[str], Column]) -> Callable[[str], Column]:
    """A column resolver that also knows LEAD, computed from event_time and received_at."""

    def column(name: str) -> Column:
        if name == LEAD:
            return lead_seconds(resolve("event_time"), resolve("received_at"))
        return resolve(name)

    return column


# The expectation kwargs RowRules understands; any other one (mostly, strict bounds, a parser
# for string conditions...) means the compiled predicate could differ from GX: not compiled.
_KNOWN_KWARGS = {"column", "value_set", "min_value", "max_value", "row_condition"}
_OPERATORS: dict[str, Callable[[Column, Any], Column]] = {
    "==": lambda c, v: c == F.lit(v),
    "!=": lambda c, v: c != F.lit(v),
}


@dataclass(frozen=True)
class CompiledRule:
    """One expectation as Spark predicates over a batch's columns."""

    rule: str
    kind: str  # not_null | in_set | between
    column: str
    values: tuple[Any, ...] = ()
    low: Any = None
    high: Any = None
    condition: tuple[str, str, Any] | None = None  # (column, operator, value)

    def applies(self, resolve: Callable[[str], Column]) -> Column:
        """Rows the rule looks at: its row condition (GX skips the others), else all rows."""
        if self.condition is None:
            return F.lit(True)
        name, op, value = self.condition
        return F.coalesce(_OPERATORS[op](resolve(name), value), F.lit(False))

    def broken(self, resolve: Callable[[str], Column]) -> Column:
        """True where a row breaks the rule. Like GX, set and range rules skip null values."""
        c = resolve(self.column)
        if self.kind == "not_null":
            bad = c.isNull()
        elif self.kind == "in_set":
            bad = c.isNotNull() & ~c.isin(*self.values)
        else:
            bad = F.lit(False)
            if self.low is not None:
                bad = bad | (c < F.lit(self.low))
            if self.high is not None:
                bad = bad | (c > F.lit(self.high))
            bad = c.isNotNull() & bad
        return self.applies(resolve) & F.coalesce(bad, F.lit(False))

    def witnesses(
        self, resolve: Callable[[str], Column], rows: Column, key: Column
    ) -> list[Column]:
        """Aggregates giving the `key` of rows (among `rows`) that break the rule if any does.

        For a range rule: the rows holding the column's minimum and maximum; for not-null: a
        row with a null if there is one; for a set rule: a row outside the set if there is one.
        """
        c = resolve(self.column)
        scope = rows & self.applies(resolve)
        if self.kind == "between":
            value = F.when(scope, c)
            return [F.min_by(key, value), F.max_by(key, value)]
        if self.kind == "not_null":
            return [F.max_by(key, F.when(scope, c.isNull()))]
        outside = ~F.array_contains(F.array(*[F.lit(v) for v in self.values]), c)
        return [F.max_by(key, F.when(scope & c.isNotNull(), outside))]


def _comparison(cond: Any) -> tuple[str, str, Any] | None:
    """(column, operator, value) of a GX row condition `column <op> value`, else None."""
    if not isinstance(cond, dict):  # a ComparisonCondition object: use its serialized form
        cond = cond.dict() if hasattr(cond, "dict") else None
    if not cond or cond.get("type") != "comparison":
        return None
    op = getattr(cond.get("operator"), "value", cond.get("operator"))
    column = cond.get("column")
    name = column.get("name") if isinstance(column, dict) else getattr(column, "name", None)
    if op not in _OPERATORS or not name:
        return None
    return (name, op, cond.get("parameter"))


@dataclass(frozen=True)
class RowRules:
    """The suite as row predicates (`broken`) and witness aggregates (see the module docstring).

    Columns are resolved by `resolve(name)`, so the caller says what `_event_time_lead_s` is.
    """

    rules: tuple[CompiledRule, ...]

    @staticmethod
    def compile(expectations: list[Any]) -> RowRules | None:
        """RowRules for these GX expectations, or None if one of them cannot be compiled."""
        compiled = []
        kinds = {
            "ExpectColumnValuesToNotBeNull": "not_null",
            "ExpectColumnValuesToBeInSet": "in_set",
            "ExpectColumnValuesToBeBetween": "between",
        }
        for expectation in expectations:
            kind = kinds.get(type(expectation).__name__)
            kwargs = {k: v for k, v in expectation.configuration.kwargs.items() if v is not None}
            if kind is None or set(kwargs) - _KNOWN_KWARGS:
                return None
            condition = None
            if "row_condition" in kwargs:
                condition = _comparison(kwargs["row_condition"])
                if condition is None:
                    return None
            compiled.append(
                CompiledRule(
                    rule=str(expectation.meta["rule"]),
                    kind=kind,
                    column=kwargs["column"],
                    values=tuple(kwargs.get("value_set", ())),
                    low=kwargs.get("min_value"),
                    high=kwargs.get("max_value"),
                    condition=condition,
                )
            )
        return RowRules(tuple(compiled))

    def columns(self) -> list[str]:
        """Every column the rules read, in first-use order."""
        names = []
        for r in self.rules:
            for name in (r.column, r.condition[0] if r.condition else None):
                if name and name not in names:
                    names.append(name)
        return names

    def reason(self, resolve: Callable[[str], Column]) -> Column:
        """'gx:<first broken rule>' in suite order, null for a row that keeps every rule."""
        return F.coalesce(
            *[F.when(r.broken(resolve), F.lit(REASON_PREFIX + r.rule)) for r in self.rules]
        )

    def witness_aggregates(
        self, resolve: Callable[[str], Column], rows: Column, key: Column
    ) -> list[Column]:
        return [
            agg.alias(f"_witness_{i}")
            for i, agg in enumerate(a for r in self.rules for a in r.witnesses(resolve, rows, key))
        ]

    @staticmethod
    def witness_keys(stats: Row) -> list[Any]:
        """The distinct witness keys in a row of witness_aggregates (nulls: no such rows)."""
        keys = [v for k, v in stats.asDict().items() if k.startswith("_witness_")]
        return sorted({k for k in keys if k is not None})
