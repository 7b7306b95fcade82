"""Edge-cache simulator: replays a request trace against one eviction policy at a byte capacity.

Why it exists: placement decisions (what to push-fill onto an edge appliance) are judged by how
many requests and bytes the edge would have served from its disk. This module answers that for a
trace of requests, with the semantics of libCacheSim so figures are comparable with the
literature:

* capacity is in bytes; on a miss the policy evicts until the new object fits, then admits it;
* an object larger than the whole cache is a miss and is not admitted;
* a hit changes nothing about sizes: if an object id comes back with another size, the size
  stored when it was admitted keeps counting against capacity until it leaves the cache;
* object hit ratio = hits / requests; byte hit ratio = hit bytes / requested bytes, where every
  request counts with the size written on that request (as libCacheSim's simulator does).

The hot loops are numba ``njit`` kernels over dense int64 object indices (ids are factorized
once per trace), so there is no hashing per request. Nothing here knows about Spark: a Spark job
calls `simulate_frame` from ``applyInPandas`` with one edge's requests per group.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit

from vodlake.errors import VodlakeError

if TYPE_CHECKING:
    import pandas as pd

POLICIES: tuple[str, ...] = (
    "lru",
    "fifo",
    "lfu",
    "ttl",
    "prefill",
    "prefill-lru",
    "belady",
    "belady-bypass",
)

POLICY_HELP: dict[str, str] = {
    "lru": "evict the least recently used object",
    "fifo": "evict the object admitted first; hits do not reorder",
    "lfu": "evict the least frequently used object (in-cache count); ties: least recent",
    "ttl": "LRU for space, and an entry expires TTL seconds after it was stored",
    "prefill": "static: holds only the manifest (filled in order), admits nothing else",
    "prefill-lru": "manifest pinned, LRU in the remaining capacity for everything else",
    "belady": "evict the farthest next use (needs the future); optimal for unit sizes only",
    "belady-bypass": "Belady that does not admit a miss never used again, or whose next use is "
    "later than that of everything cached (when it would need an eviction)",
}

BELADY_NOTE = (
    "belady: optimal for unit sizes only; with variable sizes it is not a lower bound on misses"
)

TRACE_COLUMNS: tuple[str, ...] = ("time", "object_id", "size")

# Columns `simulate_frame` returns, and the same as a Spark DDL string for applyInPandas
# (prefix your group keys, e.g. f"edge_id string, {RESULT_DDL}").
RESULT_COLUMNS: tuple[str, ...] = (
    "policy",
    "capacity",
    "requests",
    "hits",
    "hit_ratio",
    "bytes",
    "hit_bytes",
    "byte_hit_ratio",
    "note",
)
RESULT_DDL = (
    "policy string, capacity long, requests long, hits long, hit_ratio double, bytes long, "
    "hit_bytes long, byte_hit_ratio double, note string"
)

_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_CAPACITY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_CAPACITY_HINT = (
    "write a whole number of bytes with an optional unit, e.g. 1000000, 500MB, 128MiB, 1.5GiB "
    "(KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB powers of 1024)"
)


# --------------------------------------------------------------------------------------------
# Inputs: capacity, trace, manifest
# --------------------------------------------------------------------------------------------


def parse_capacity(value: str | int) -> int:
    """Parse a cache capacity such as ``"128MiB"`` into bytes.

    Accepts plain bytes (``"1000"`` or an int), ``B``, decimal units ``KB/MB/GB/TB`` (powers of
    1000) and binary units ``KiB/MiB/GiB/TiB`` (powers of 1024), case-insensitively. A fraction
    is allowed only when it comes out as a whole number of bytes, so nothing is rounded silently.
    """
    if isinstance(value, bool):
        raise VodlakeError(f"capacity {value!r} is not a size", hint=_CAPACITY_HINT)
    if isinstance(value, (int, np.integer)):
        if value < 1:
            raise VodlakeError(f"capacity {value} must be at least 1 byte", hint=_CAPACITY_HINT)
        return int(value)
    if not isinstance(value, str):
        raise VodlakeError(f"capacity {value!r} is not a size", hint=_CAPACITY_HINT)
    match = _CAPACITY_RE.match(value)
    if match is None:
        raise VodlakeError(f"capacity {value!r} is not a size", hint=_CAPACITY_HINT)
    number, unit = match.groups()
    multiplier = _UNITS.get(unit.lower())
    if multiplier is None:
        raise VodlakeError(f"capacity {value!r} has an unknown unit {unit!r}", hint=_CAPACITY_HINT)
    try:
        exact = Decimal(number) * multiplier
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise VodlakeError(f"capacity {value!r} is not a size", hint=_CAPACITY_HINT) from exc
    if exact != exact.to_integral_value():
        raise VodlakeError(
            f"capacity {value!r} is {exact} bytes, not a whole number", hint=_CAPACITY_HINT
        )
    if exact < 1:
        raise VodlakeError(f"capacity {value!r} must be at least 1 byte", hint=_CAPACITY_HINT)
    return int(exact)


@dataclass(frozen=True, eq=False)
class Trace:
    """A request trace as dense numpy arrays, ordered by time.

    ``ids[i]`` indexes ``labels`` (the original object ids, numbered in order of first
    appearance), so kernels can keep per-object state in flat arrays instead of hash maps.
    Build one with `read_trace` or `Trace.from_arrays`; the constructor does not validate.
    """

    times: np.ndarray  # float64 seconds, non-decreasing
    ids: np.ndarray  # int64, 0..n_objects-1
    sizes: np.ndarray  # int64 bytes, >= 1
    labels: np.ndarray  # original object ids; labels[ids[i]] is request i's object
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_arrays(
        cls,
        times: Any,
        object_ids: Any,
        sizes: Any,
        *,
        sort: bool = False,
    ) -> Trace:
        """Validate and factorize one request per element.

        ``sort=True`` orders requests by time (stable, so equal times keep their order); use it
        for rows from Spark, whose order inside a group is not guaranteed. Without it an
        out-of-order trace is an error rather than silently reordered.
        """
        import pandas as pd

        try:
            times_arr = np.asarray(times, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise VodlakeError(
                f"trace times are not numbers ({exc})", hint="time is seconds as a number"
            ) from exc
        ids_in = np.asarray(object_ids)
        sizes_in = np.asarray(sizes)
        n = times_arr.shape[0] if times_arr.ndim == 1 else -1
        if times_arr.ndim != 1 or ids_in.ndim != 1 or sizes_in.ndim != 1:
            raise VodlakeError(
                "trace columns must be one-dimensional", hint="pass one value per request"
            )
        if not (n == ids_in.shape[0] == sizes_in.shape[0]):
            raise VodlakeError(
                f"trace columns differ in length (time {n}, object_id {ids_in.shape[0]}, "
                f"size {sizes_in.shape[0]})",
                hint="pass one time, object_id and size per request",
            )
        if n == 0:
            raise VodlakeError("trace has no requests", hint="replay at least one request")

        bad = np.flatnonzero(~np.isfinite(times_arr))
        if bad.size:
            raise VodlakeError(
                f"request {bad[0]} has time {times_arr[bad[0]]!r}",
                hint="every request needs a finite time in seconds",
            )
        sizes_arr = _sizes_to_int64(sizes_in)

        if sort:
            order = np.argsort(times_arr, kind="stable")
            times_arr, ids_in, sizes_arr = times_arr[order], ids_in[order], sizes_arr[order]
        else:
            back = np.flatnonzero(np.diff(times_arr) < 0)
            if back.size:
                i = int(back[0]) + 1
                raise VodlakeError(
                    f"request {i} has time {times_arr[i]} earlier than the one before it "
                    f"({times_arr[i - 1]})",
                    hint="sort the trace by time (or pass sort=True)",
                )

        codes, uniques = pd.factorize(ids_in, sort=False, use_na_sentinel=True)
        missing = np.flatnonzero(codes < 0)
        if missing.size:
            raise VodlakeError(
                f"request {missing[0]} has no object_id", hint="every request needs an object_id"
            )
        labels = np.asarray(uniques)
        return cls(
            times=np.ascontiguousarray(times_arr),
            ids=np.ascontiguousarray(codes, dtype=np.int64),
            sizes=np.ascontiguousarray(sizes_arr),
            labels=labels,
        )

    @property
    def n_requests(self) -> int:
        return int(self.ids.shape[0])

    @property
    def n_objects(self) -> int:
        return int(self.labels.shape[0])

    @property
    def total_bytes(self) -> int:
        """Requested bytes: every request at the size written on it."""
        if "total_bytes" not in self._cache:
            self._cache["total_bytes"] = int(self.sizes.sum())
        return self._cache["total_bytes"]

    @property
    def next_use(self) -> np.ndarray:
        """For request i, the index of the next request of the same object (n if none)."""
        if "next_use" not in self._cache:
            self._cache["next_use"] = _next_use(self.ids, self.n_objects)
        return self._cache["next_use"]

    @property
    def first_sizes(self) -> np.ndarray:
        """Size on each object's first request (labels order): the size a prefill stores."""
        if "first_sizes" not in self._cache:
            # ids are numbered by first appearance, so object k first appears before object k+1.
            _, first = np.unique(self.ids, return_index=True)
            self._cache["first_sizes"] = self.sizes[first]
        return self._cache["first_sizes"]

    def index_of(self, label: Any) -> int | None:
        """Dense index of an object id, compared as text (so 42 and "42" are the same id)."""
        if "label_index" not in self._cache:
            self._cache["label_index"] = {str(v): k for k, v in enumerate(self.labels.tolist())}
        return self._cache["label_index"].get(str(label))


def _sizes_to_int64(sizes: np.ndarray) -> np.ndarray:
    """Whole, positive byte counts as int64; a fraction or a zero is an error, not rounded."""
    if sizes.dtype.kind in "iu":
        out = sizes.astype(np.int64, copy=False)
    else:
        try:
            as_float = sizes.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise VodlakeError(
                f"trace sizes are not numbers ({exc})", hint="size is a whole number of bytes"
            ) from exc
        bad = np.flatnonzero(~np.isfinite(as_float) | (as_float != np.floor(as_float)))
        if bad.size:
            raise VodlakeError(
                f"request {bad[0]} has size {sizes[bad[0]]!r}",
                hint="size is a whole number of bytes",
            )
        out = as_float.astype(np.int64)
    bad = np.flatnonzero(out < 1)
    if bad.size:
        raise VodlakeError(
            f"request {bad[0]} has size {out[bad[0]]}", hint="size must be at least 1 byte"
        )
    return out


def read_trace(path: str | os.PathLike[str]) -> Trace:
    """Read a CSV trace with header ``time,object_id,size`` (one request per row, by time).

    object_id is kept as text, so ``7`` and ``007`` are different objects. A bad row is an error
    naming its line; nothing is skipped.
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise VodlakeError(
            f"trace {p} not found", hint="pass a CSV with header time,object_id,size"
        )
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise VodlakeError(
            f"trace {p} is not a readable CSV ({str(exc).strip()})",
            hint="one request per line: time,object_id,size",
        ) from exc
    missing = [c for c in TRACE_COLUMNS if c not in df.columns]
    if missing:
        raise VodlakeError(
            f"trace {p} lacks column(s) {', '.join(missing)} (header: {', '.join(df.columns)})",
            hint="the first line must be the header time,object_id,size",
        )
    if df.empty:
        raise VodlakeError(f"trace {p} has no requests", hint="replay at least one request")

    def numeric(column: str) -> np.ndarray:
        values = pd.to_numeric(df[column].str.strip(), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        bad = np.flatnonzero(np.isnan(values))
        if bad.size:
            row = int(bad[0])
            raise VodlakeError(
                f"trace {p} line {row + 2}: {column} {df[column].iat[row]!r} is not a number",
                hint=f"{column} must be a number on every line",
            )
        return values

    times = numeric("time")
    sizes = numeric("size")
    ids = df["object_id"].str.strip().to_numpy(dtype=object)
    empty = np.flatnonzero(ids == "")
    if empty.size:
        raise VodlakeError(
            f"trace {p} line {int(empty[0]) + 2}: object_id is empty",
            hint="every request needs an object_id",
        )
    try:
        return Trace.from_arrays(times, ids, sizes)
    except VodlakeError as exc:
        # Request numbers are 0-based rows; say which file and line the user should look at.
        m = re.match(r"request (\d+) (.*)", exc.message)
        if m:
            msg = f"trace {p} line {int(m.group(1)) + 2} {m.group(2)}"
        else:
            msg = f"trace {p}: {exc.message}"
        raise VodlakeError(msg, hint=exc.hint) from exc


def load_manifest(path: str | os.PathLike[str]) -> list[str]:
    """Object ids an edge should hold after a fill, in fill order.

    Accepts a prefill manifest ``{"edge_id": ..., "add": [...], "keep": [...], "drop": [...]}``
    (returns add then keep; drop entries leave the edge so they are not returned), a JSON list of
    ids, or a text file with one id per line (blank lines skipped). Entries may be ids or objects
    with an ``object_id``. Duplicates keep their first position.
    """
    p = Path(path)
    if not p.is_file():
        raise VodlakeError(f"manifest {p} not found", hint="pass a JSON manifest or an id list")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VodlakeError(f"manifest {p} cannot be read ({exc})", hint="use UTF-8 text") from exc
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            doc = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise VodlakeError(
                f"manifest {p} is not valid JSON (line {exc.lineno}, column {exc.colno})",
                hint='use {"add": [...], "keep": [...]} or a JSON list of ids',
            ) from exc
        if isinstance(doc, dict):
            if "add" not in doc and "keep" not in doc:
                raise VodlakeError(
                    f"manifest {p} has neither 'add' nor 'keep'",
                    hint='a prefill manifest looks like {"edge_id": ..., "add": [...], '
                    '"keep": [...], "drop": [...]}',
                )
            entries: list[Any] = []
            for key in ("add", "keep"):
                part = doc.get(key, [])
                if not isinstance(part, list):
                    raise VodlakeError(
                        f"manifest {p}: '{key}' is {type(part).__name__}, not a list",
                        hint=f'"{key}": [{{"object_id": ..., "bytes": ...}}, ...]',
                    )
                entries.extend(part)
        elif isinstance(doc, list):
            entries = doc
        else:
            raise VodlakeError(
                f"manifest {p} is a JSON {type(doc).__name__}",
                hint="use a prefill manifest object or a JSON list of ids",
            )
        ids = [_manifest_entry_id(e, p) for e in entries]
    else:
        ids = [line.strip() for line in text.splitlines() if line.strip()]
    return list(dict.fromkeys(ids))


def _manifest_entry_id(entry: Any, path: Path) -> str:
    if isinstance(entry, dict):
        if "object_id" not in entry:
            raise VodlakeError(
                f"manifest {path}: entry {entry!r} has no object_id",
                hint='entries look like {"object_id": ..., "bytes": ...}',
            )
        entry = entry["object_id"]
    if isinstance(entry, bool) or not isinstance(entry, (str, int)):
        raise VodlakeError(
            f"manifest {path}: {entry!r} is not an object id",
            hint="object ids are strings or integers",
        )
    return str(entry)


# --------------------------------------------------------------------------------------------
# Results and the public entry points
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimResult:
    """Counts of one replay. Ratios are hits/requests and hit_bytes/bytes."""

    policy: str
    capacity: int
    requests: int
    hits: int
    hit_ratio: float
    bytes: int
    hit_bytes: int
    byte_hit_ratio: float
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``note`` appears only when there is something to say."""
        out: dict[str, Any] = {
            "policy": self.policy,
            "capacity": self.capacity,
            "requests": self.requests,
            "hits": self.hits,
            "hit_ratio": self.hit_ratio,
            "bytes": self.bytes,
            "hit_bytes": self.hit_bytes,
            "byte_hit_ratio": self.byte_hit_ratio,
        }
        if self.note is not None:
            out["note"] = self.note
        return out


ManifestArg = Iterable[Any] | Mapping[Any, int] | None


def replay(
    trace: Trace,
    policy: str,
    capacity: int | str,
    ttl: float | None = None,
    manifest: ManifestArg = None,
) -> np.ndarray:
    """Per-request hit mask (bool array, one entry per request) for one policy and capacity.

    `simulate` sums this; it is public so callers can break results down (per object, per hour).
    """
    return _replay(trace, policy, capacity, ttl, manifest)[0]


def simulate(
    trace: Trace,
    policy: str,
    capacity: int | str,
    ttl: float | None = None,
    manifest: ManifestArg = None,
) -> SimResult:
    """Replay ``trace`` through ``policy`` with ``capacity`` bytes and count hits.

    Policies (see `POLICY_HELP`):

    * ``lru`` / ``fifo``: one queue; a hit moves the object to the young end only for LRU.
    * ``lfu``: evicts the smallest in-cache request count (an admitted object starts at 1, an
      evicted object forgets its count); ties go to the least recently requested object.
    * ``ttl`` (needs ``ttl`` seconds): LRU for space, and a request at
      ``time >= stored_time + ttl`` is a miss that re-stores the object. A hit does not refresh
      the stored time. Expired entries keep their space until requested or evicted (lazy
      expiry, as in libCacheSim; note libCacheSim's own check is ``>``, ours is ``>=``).
    * ``prefill`` (needs ``manifest``): holds exactly the manifest objects that fit, in manifest
      order; nothing else is ever admitted and nothing is evicted.
    * ``prefill-lru`` (needs ``manifest``): the manifest objects that fit are pinned; the
      capacity they leave runs LRU for every other object.
    * ``belady``: evicts the object whose next request is farthest (never again = farthest).
      Ties exist only among never-again objects, which all go before any reused one, so the
      tie order (first seen earliest goes first) cannot change hits. Like libCacheSim's Belady
      it admits every miss that fits. Optimal for unit sizes only: with variable sizes it is not
      a lower bound on misses or byte misses.
    * ``belady-bypass``: Belady that may refuse a miss: an object never requested again is not
      admitted, nor one that would need an eviction while its next use is later than every
      cached object's. The stronger dynamic baseline the placement evaluation warms up.

    Manifest: ids (any iterable; compared as text) or a mapping id -> bytes. The fill walks it
    in order (a set is sorted first, for a repeatable order) and admits each object that fits
    in the space left, skipping ones that do not (so an object larger than the capacity is
    never admitted, and a later smaller one may still fit). With plain ids an object's size is
    the size on its first request in the trace, and ids absent from the trace are skipped
    (unknown size, can never hit); with a mapping the given bytes are the stored size and
    absent ids still take space. What was skipped is reported in ``note``.
    """
    cap = parse_capacity(capacity)
    hit, note = _replay(trace, policy, cap, ttl, manifest)
    hits = int(np.count_nonzero(hit))
    hit_bytes = int(trace.sizes[hit].sum())
    requests = trace.n_requests
    total = trace.total_bytes
    return SimResult(
        policy=policy,
        capacity=cap,
        requests=requests,
        hits=hits,
        hit_ratio=hits / requests,
        bytes=total,
        hit_bytes=hit_bytes,
        byte_hit_ratio=hit_bytes / total,
        note=note,
    )


def simulate_frame(
    pdf: pd.DataFrame,
    policy: str,
    capacity: int | str | Sequence[int | str],
    ttl: float | None = None,
    manifest: ManifestArg = None,
    keys: Sequence[str] = (),
) -> pd.DataFrame:
    """Simulate one group of requests (columns time, object_id, size): one row per capacity.

    Made for ``df.groupBy("edge_id").applyInPandas(fn, f"edge_id string, {RESULT_DDL}")`` where
    ``fn = lambda pdf: simulate_frame(pdf, "lru", ["1TiB", "4TiB"], keys=["edge_id"])``.
    Rows are sorted by time first, since Spark does not keep row order within a group. Each
    column in ``keys`` must hold one value in the group; it is copied to the output rows.
    """
    import pandas as pd

    missing = [c for c in TRACE_COLUMNS if c not in pdf.columns]
    if missing:
        raise VodlakeError(
            f"frame lacks column(s) {', '.join(missing)}",
            hint="select time, object_id and size before simulating",
        )
    key_values: dict[str, Any] = {}
    for key in keys:
        if key not in pdf.columns:
            raise VodlakeError(f"frame lacks key column {key!r}", hint="group by that column")
        values = pdf[key].unique()
        if len(values) != 1:
            raise VodlakeError(
                f"key column {key!r} holds {len(values)} values in one group",
                hint="pass only the columns you grouped by as keys",
            )
        key_values[key] = values[0]
    trace = Trace.from_arrays(
        pdf["time"].to_numpy(), pdf["object_id"].to_numpy(), pdf["size"].to_numpy(), sort=True
    )
    caps = [capacity] if isinstance(capacity, (str, int, np.integer)) else list(capacity)
    rows = []
    for cap in caps:
        row = simulate(trace, policy, cap, ttl=ttl, manifest=manifest).to_dict()
        row.setdefault("note", None)
        rows.append({**key_values, **row})
    return pd.DataFrame(rows, columns=[*keys, *RESULT_COLUMNS])


# --------------------------------------------------------------------------------------------
# Dispatch and manifest planning
# --------------------------------------------------------------------------------------------


def _check_options(policy: str, ttl: float | None, manifest: ManifestArg) -> float:
    """Reject options that the policy would ignore, so no argument is dropped silently."""
    if policy not in POLICIES:
        raise VodlakeError(
            f"unknown cache policy {policy!r}", hint=f"choose one of {', '.join(POLICIES)}"
        )
    if policy == "ttl":
        if ttl is None:
            raise VodlakeError("policy ttl needs a ttl", hint="give --ttl SECONDS (e.g. 3600)")
        if not (isinstance(ttl, (int, float)) and math.isfinite(ttl) and ttl > 0):
            raise VodlakeError(f"ttl {ttl!r} is not a positive number of seconds", hint="e.g. 3600")
    elif ttl is not None:
        raise VodlakeError(
            f"policy {policy} does not use a ttl", hint="drop --ttl or use --policy ttl"
        )
    if policy in ("prefill", "prefill-lru"):
        if manifest is None:
            raise VodlakeError(
                f"policy {policy} needs a manifest",
                hint="give --manifest FILE (prefill JSON, JSON list of ids, or one id per line)",
            )
        if isinstance(manifest, (str, bytes, os.PathLike)):
            raise VodlakeError(
                "manifest must be a collection of object ids, not a path or a string",
                hint="load a file with load_manifest(path)",
            )
    elif manifest is not None:
        raise VodlakeError(
            f"policy {policy} does not use a manifest",
            hint="drop --manifest or use --policy prefill / prefill-lru",
        )
    return float(ttl) if ttl is not None else 0.0


def _plan_fill(trace: Trace, manifest: ManifestArg, capacity: int) -> tuple[np.ndarray, int, str]:
    """Decide which manifest objects a fill stores: (pinned mask, bytes used, note)."""
    sizes: Mapping[Any, int] | None = None
    if isinstance(manifest, Mapping):
        sizes = manifest
        entries: list[Any] = list(manifest.keys())
    elif isinstance(manifest, (set, frozenset)):
        entries = sorted(manifest, key=str)
    else:
        entries = list(manifest)  # type: ignore[arg-type]
    pinned = np.zeros(trace.n_objects, dtype=np.bool_)
    free = capacity
    stored = too_big = unknown = 0
    seen: set[str] = set()
    for entry in entries:
        label = str(entry)
        if label in seen:
            continue
        seen.add(label)
        index = trace.index_of(label)
        if sizes is not None:
            size = sizes[entry]
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
                raise VodlakeError(
                    f"manifest size for {label!r} is {size!r}",
                    hint="manifest sizes are whole numbers of bytes, at least 1",
                )
            size = int(size)
        elif index is None:
            unknown += 1
            continue
        else:
            size = int(trace.first_sizes[index])
        if size > free:
            too_big += 1
            continue
        free -= size
        stored += 1
        if index is not None:
            pinned[index] = True
    note = f"prefill: {stored} of {len(seen)} manifest objects stored ({capacity - free} bytes)"
    if too_big:
        note += f"; {too_big} did not fit"
    if unknown:
        note += f"; {unknown} not in the trace (size unknown) skipped"
    return pinned, capacity - free, note


def _replay(
    trace: Trace,
    policy: str,
    capacity: int | str,
    ttl: float | None,
    manifest: ManifestArg,
) -> tuple[np.ndarray, str | None]:
    ttl_s = _check_options(policy, ttl, manifest)
    cap = parse_capacity(capacity)
    n_obj = trace.n_objects
    hit = np.zeros(trace.n_requests, dtype=np.bool_)
    note: str | None = None
    no_pins = np.zeros(n_obj, dtype=np.bool_)
    if policy in ("lru", "fifo", "ttl"):
        _replay_queue(
            trace.ids, trace.sizes, trace.times, n_obj, cap, policy != "fifo", ttl_s, no_pins, hit
        )
    elif policy == "lfu":
        max_freq = int(np.bincount(trace.ids).max())
        _replay_lfu(trace.ids, trace.sizes, n_obj, max_freq, cap, hit)
    elif policy in ("belady", "belady-bypass"):
        bypass = policy == "belady-bypass"
        _replay_belady(trace.ids, trace.sizes, trace.next_use, n_obj, cap, bypass, hit)
        note = BELADY_NOTE
    elif policy == "prefill":
        pinned, _, note = _plan_fill(trace, manifest, cap)
        np.take(pinned, trace.ids, out=hit)
    else:  # prefill-lru
        pinned, used, note = _plan_fill(trace, manifest, cap)
        _replay_queue(
            trace.ids, trace.sizes, trace.times, n_obj, cap - used, True, 0.0, pinned, hit
        )
    return hit, note


# --------------------------------------------------------------------------------------------
# numba kernels
#
# Intrusive doubly linked lists live in two int64 arrays (prev, nxt) indexed by object; each
# list is circular around a sentinel slot past the objects, so linking never tests for empty
# ends. The node after a sentinel is the eviction end (oldest), the node before it the young end.
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def _empty_list(n_obj: int) -> tuple[np.ndarray, np.ndarray]:
    """(prev, nxt) of an empty list over n_obj objects: the sentinel (slot n_obj) alone."""
    prev = np.empty(n_obj + 1, np.int64)
    nxt = np.empty(n_obj + 1, np.int64)
    prev[n_obj] = n_obj
    nxt[n_obj] = n_obj
    return prev, nxt


@njit(cache=True)
def _unlink(prev: np.ndarray, nxt: np.ndarray, x: int) -> None:
    p = prev[x]
    n = nxt[x]
    nxt[p] = n
    prev[n] = p


@njit(cache=True)
def _insert_after(prev: np.ndarray, nxt: np.ndarray, a: int, x: int) -> None:
    n = nxt[a]
    nxt[x] = n
    prev[x] = a
    prev[n] = x
    nxt[a] = x


@njit(cache=True)
def _replay_queue(
    ids: np.ndarray,
    sizes: np.ndarray,
    times: np.ndarray,
    n_obj: int,
    capacity: int,
    promote: bool,
    ttl: float,
    pinned: np.ndarray,
    hit: np.ndarray,
) -> None:
    """LRU (promote), FIFO (no promote), TTL (ttl > 0) and the LRU part of prefill-lru.

    Pinned objects always hit and never enter the queue.
    """
    sentinel = n_obj
    prev, nxt = _empty_list(n_obj)
    cached = np.zeros(n_obj, np.bool_)
    stored = np.zeros(n_obj, np.int64)
    stored_at = np.zeros(n_obj, np.float64)
    use_ttl = ttl > 0.0
    used = 0
    for i in range(ids.shape[0]):
        o = ids[i]
        if pinned[o]:
            hit[i] = True
            continue
        if cached[o]:
            if use_ttl and times[i] >= stored_at[o] + ttl:
                # Expired: drop the entry, then handle the request as a miss that re-stores it.
                _unlink(prev, nxt, o)
                cached[o] = False
                used -= stored[o]
            else:
                hit[i] = True
                if promote:
                    _unlink(prev, nxt, o)
                    _insert_after(prev, nxt, prev[sentinel], o)
                continue
        s = sizes[i]
        if s > capacity:
            continue
        while used + s > capacity:
            victim = nxt[sentinel]
            _unlink(prev, nxt, victim)
            cached[victim] = False
            used -= stored[victim]
        _insert_after(prev, nxt, prev[sentinel], o)
        cached[o] = True
        stored[o] = s
        stored_at[o] = times[i]
        used += s


@njit(cache=True)
def _replay_lfu(
    ids: np.ndarray,
    sizes: np.ndarray,
    n_obj: int,
    max_freq: int,
    capacity: int,
    hit: np.ndarray,
) -> None:
    """O(1) LFU: one LRU-ordered list per frequency, plus a sorted list of non-empty frequencies.

    Every request moves an object to the young end of its new frequency's list, so within one
    frequency the oldest node is the least recently requested: evicting the oldest node of the
    lowest frequency breaks count ties by recency.
    """
    base = n_obj  # sentinel of frequency f's list is base + f, f in 1..max_freq
    size = n_obj + max_freq + 1
    prev = np.empty(size, np.int64)
    nxt = np.empty(size, np.int64)
    for f in range(1, max_freq + 1):
        prev[base + f] = base + f
        nxt[base + f] = base + f
    # Non-empty frequencies in increasing order, circular around slot 0 (no real count is 0).
    fprev = np.zeros(max_freq + 1, np.int64)
    fnxt = np.zeros(max_freq + 1, np.int64)
    freq = np.zeros(n_obj, np.int64)  # 0 = not cached
    stored = np.zeros(n_obj, np.int64)
    used = 0
    for i in range(ids.shape[0]):
        o = ids[i]
        f = freq[o]
        if f > 0:
            hit[i] = True
            g = f + 1
            _unlink(prev, nxt, o)
            if nxt[base + g] == base + g:
                _insert_after(fprev, fnxt, f, g)  # f is still listed, so g lands in order
            _insert_after(prev, nxt, prev[base + g], o)
            if nxt[base + f] == base + f:
                _unlink(fprev, fnxt, f)
            freq[o] = g
            continue
        s = sizes[i]
        if s > capacity:
            continue
        while used + s > capacity:
            low = fnxt[0]
            victim = nxt[base + low]
            _unlink(prev, nxt, victim)
            freq[victim] = 0
            used -= stored[victim]
            if nxt[base + low] == base + low:
                _unlink(fprev, fnxt, low)
        if nxt[base + 1] == base + 1:
            _insert_after(fprev, fnxt, 0, 1)
        _insert_after(prev, nxt, prev[base + 1], o)
        freq[o] = 1
        stored[o] = s
        used += s


@njit(cache=True)
def _next_use(ids: np.ndarray, n_obj: int) -> np.ndarray:
    n = ids.shape[0]
    out = np.empty(n, np.int64)
    last = np.full(n_obj, n, np.int64)
    for i in range(n - 1, -1, -1):
        o = ids[i]
        out[i] = last[o]
        last[o] = i
    return out


@njit(cache=True)
def _above(key: np.ndarray, a: int, b: int) -> bool:
    """Heap order for Belady: later next use first; equal (never again) -> lower index first."""
    return key[a] > key[b] or (key[a] == key[b] and a < b)


@njit(cache=True)
def _sift_up(heap: np.ndarray, pos: np.ndarray, key: np.ndarray, i: int) -> None:
    x = heap[i]
    while i > 0:
        parent = (i - 1) >> 1
        y = heap[parent]
        if not _above(key, x, y):
            break
        heap[i] = y
        pos[y] = i
        i = parent
    heap[i] = x
    pos[x] = i


@njit(cache=True)
def _sift_down(heap: np.ndarray, pos: np.ndarray, key: np.ndarray, i: int, n: int) -> None:
    x = heap[i]
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and _above(key, heap[child + 1], heap[child]):
            child += 1
        y = heap[child]
        if not _above(key, y, x):
            break
        heap[i] = y
        pos[y] = i
        i = child
    heap[i] = x
    pos[x] = i


@njit(cache=True)
def _replay_belady(
    ids: np.ndarray,
    sizes: np.ndarray,
    next_use: np.ndarray,
    n_obj: int,
    capacity: int,
    bypass: bool,
    hit: np.ndarray,
) -> None:
    """Belady/MIN with an indexed max-heap keyed by each cached object's next request index.

    With ``bypass`` a miss is not admitted when the object is never requested again, or when
    admitting it needs an eviction and its next use is later than every cached object's: storing
    it could only push out something needed sooner.
    """
    never = ids.shape[0]
    heap = np.empty(n_obj, np.int64)
    pos = np.full(n_obj, -1, np.int64)
    key = np.zeros(n_obj, np.int64)
    stored = np.zeros(n_obj, np.int64)
    n_heap = 0
    used = 0
    for i in range(ids.shape[0]):
        o = ids[i]
        if pos[o] >= 0:
            hit[i] = True
            key[o] = next_use[i]  # only grows (it was i), so the entry can only move up
            _sift_up(heap, pos, key, pos[o])
            continue
        s = sizes[i]
        if s > capacity:
            continue
        if bypass and (
            next_use[i] == never
            or (used + s > capacity and n_heap > 0 and next_use[i] > key[heap[0]])
        ):
            continue
        while used + s > capacity:
            victim = heap[0]
            n_heap -= 1
            pos[victim] = -1
            used -= stored[victim]
            if n_heap > 0:
                heap[0] = heap[n_heap]
                pos[heap[0]] = 0
                _sift_down(heap, pos, key, 0, n_heap)
        heap[n_heap] = o
        key[o] = next_use[i]
        n_heap += 1
        _sift_up(heap, pos, key, n_heap - 1)
        stored[o] = s
        used += s


def replay_swept(
    trace: Trace,
    sweep_times: Any,
    sweep_limits: Any,
    stored: Any = None,
    local: Any = None,
    walk_times: Any = (),
    walk_rank: Any = None,
) -> np.ndarray:
    """Per-request hit mask of an LRU cache whose byte limit is enforced only at sweeps.

    Why: a real nginx edge is not the instant LRU above. Its proxy_cache stores every miss at
    once, and its cache manager removes least recently used entries only when it wakes (at
    start, then every 10 s while the cache is below max_size), until the cache is below the
    limit again; between sweeps the cache holds more than the limit. A prediction for such an
    edge must replay that, not an LRU that evicts before each admission.

    ``sweep_times`` (seconds, non-decreasing) and ``sweep_limits`` (bytes, one per sweep): at
    each sweep the least recently used entries go while the stored bytes are >= the limit
    (nginx's test is ``size < max_size``). ``stored``: per request, the bytes the cache charges
    when this request's miss stores the object (default: the request's size; nginx charges
    whole file system blocks of the cache file). ``local``: per request, answered from a store
    outside the cache (an edge's prefill store): a hit that leaves the cache untouched.
    ``walk_times`` with ``walk_rank`` (one int per object, labels order): nginx's cache loader,
    which re-adds every file it finds in directory order at the young end of the queue: at each
    walk time every cached object moves to the young end in ascending rank.
    Requests are taken in trace order; a sweep or walk at a request's time runs before it.
    """
    n = trace.n_requests
    times = np.ascontiguousarray(sweep_times, dtype=np.float64)
    limits = np.ascontiguousarray(sweep_limits, dtype=np.int64)
    if times.ndim != 1 or times.shape != limits.shape:
        raise VodlakeError(
            "sweep_times and sweep_limits differ in shape", hint="pass one limit per sweep"
        )
    if times.size and np.any(np.diff(times) < 0):
        raise VodlakeError("sweep_times go backwards", hint="sort the sweeps by time")
    charge = trace.sizes if stored is None else np.asarray(stored, dtype=np.int64)
    here = np.zeros(n, np.bool_) if local is None else np.asarray(local, dtype=np.bool_)
    if charge.shape != (n,) or here.shape != (n,):
        raise VodlakeError(
            "stored and local need one value per request", hint=f"the trace has {n} requests"
        )
    walks = np.ascontiguousarray(walk_times, dtype=np.float64)
    rank = np.arange(trace.n_objects, dtype=np.int64) if walk_rank is None else walk_rank
    rank = np.ascontiguousarray(rank, dtype=np.int64)
    if walks.size and (walk_rank is None or rank.shape != (trace.n_objects,)):
        raise VodlakeError(
            "a walk needs walk_rank, one rank per object",
            hint=f"the trace has {trace.n_objects} objects (labels order)",
        )
    hit = np.zeros(n, dtype=np.bool_)
    _replay_swept(
        trace.ids, np.ascontiguousarray(charge), trace.times, np.ascontiguousarray(here),
        trace.n_objects, times, limits, np.sort(walks), rank, hit,
    )  # fmt: skip
    return hit


@njit(cache=True)
def _replay_swept(
    ids: np.ndarray,
    stored: np.ndarray,
    times: np.ndarray,
    local: np.ndarray,
    n_obj: int,
    sweep_times: np.ndarray,
    sweep_limits: np.ndarray,
    walk_times: np.ndarray,
    walk_rank: np.ndarray,
    hit: np.ndarray,
) -> None:
    sentinel = n_obj
    prev, nxt = _empty_list(n_obj)
    cached = np.zeros(n_obj, np.bool_)
    charged = np.zeros(n_obj, np.int64)
    used = 0
    j = 0
    w = 0
    n_walks = walk_times.shape[0]
    n_sweeps = sweep_times.shape[0]
    for i in range(ids.shape[0]):
        while True:  # walks and sweeps due by this request, in time order
            walk_due = w < n_walks and walk_times[w] <= times[i]
            sweep_due = j < n_sweeps and sweep_times[j] <= times[i]
            if walk_due and (not sweep_due or walk_times[w] <= sweep_times[j]):
                found = np.empty(n_obj, np.int64)
                k = 0
                x = nxt[sentinel]
                while x != sentinel:
                    found[k] = x
                    k += 1
                    x = nxt[x]
                order = found[:k][np.argsort(walk_rank[found[:k]], kind="mergesort")]
                for x in order:
                    _unlink(prev, nxt, x)
                    _insert_after(prev, nxt, prev[sentinel], x)
                w += 1
            elif sweep_due:
                while used >= sweep_limits[j] and nxt[sentinel] != sentinel:
                    victim = nxt[sentinel]
                    _unlink(prev, nxt, victim)
                    cached[victim] = False
                    used -= charged[victim]
                j += 1
            else:
                break
        if local[i]:
            hit[i] = True
            continue
        o = ids[i]
        if cached[o]:
            hit[i] = True
            _unlink(prev, nxt, o)
        else:
            cached[o] = True
            charged[o] = stored[i]
            used += stored[i]
        _insert_after(prev, nxt, prev[sentinel], o)


@functools.cache
def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel once, e.g. before timing."""
    tiny = Trace.from_arrays([0.0, 1.0, 2.0], [1, 2, 1], [1, 1, 1])
    for policy in POLICIES:
        kwargs: dict[str, Any] = {}
        if policy == "ttl":
            kwargs["ttl"] = 1.0
        if policy.startswith("prefill"):
            kwargs["manifest"] = [1]
        simulate(tiny, policy, 2, **kwargs)
    replay_swept(tiny, [0.5], [1], walk_times=[1.5], walk_rank=[1, 0])
