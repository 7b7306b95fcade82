"""Typed configuration: conf/base.yaml, then conf/<env>.yaml, then VODLAKE__* environment variables.

Loaded once per process (`load()` caches). An unknown key or a wrong type is a ConfigError that
names the key. Secrets never live in the files: they are read from environment variables only
(see `Secrets`). Nothing here imports from vodlake.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

ENV_PREFIX = "VODLAKE__"


class ConfigError(ValueError):
    """A configuration problem, worded for the person who wrote the file."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkConf(_Section):
    master: str = "local[*]"
    app_name: str = "vodlake"
    driver_memory: str = "2g"
    shuffle_partitions: int = Field(4, ge=1)
    # Extra spark.* settings, passed through as they are.
    extra: dict[str, str] = Field(default_factory=dict)
    # Resolve connector jars with Ivy from Maven Central (spark.jars.packages). Turn off where
    # the cluster already provides them (e.g. Databricks libraries).
    packages: bool = True


class PathsConf(_Section):
    """Where data lives. Every path is a Hadoop FileSystem URI (file://, s3a://, abfss://...)."""

    home: str = "/var/tmp/vodlake"
    lake: str = "{home}/lake"
    checkpoints: str = "{home}/checkpoints"
    # The origin players and edges read (objectstore.bucket on the S3 store by default);
    # `{bucket}` is objectstore.bucket, `{origin}` the resolved origin.
    origin: str = "s3a://{bucket}"
    uploads: str = "{origin}/uploads"
    # Scratch space shared by executors (encoded chunks before packaging); not served.
    work: str = "{home}/work"
    reports: str = "{origin}/reports"


class KafkaTopics(_Section):
    uploads: str = "uploads"
    playback: str = "playback"
    demo: str = "demo-events"
    edge_logs: str = "edge-logs"


class KafkaConf(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    topics: KafkaTopics = KafkaTopics()
    partitions: int = Field(4, ge=1)
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    max_offsets_per_trigger: int | None = None
    # How long a broker may hold a fetch at the end of the log. Spark's consumer leaves a
    # prefetch waiting there after each task; with Kafka's default 500 ms the next micro-batch's
    # read waits behind it, which cost a 1 s trigger up to half a second per batch.
    fetch_max_wait_ms: int = Field(10, ge=0)


class ElasticsearchConf(_Section):
    host: str = "127.0.0.1"
    port: int = Field(9200, ge=1, le=65535)
    scheme: Literal["http", "https"] = "http"
    index_prefix: str = "vodlake"
    # es-hadoop needs `es.nodes.wan.only` when it must not discover data-node addresses
    # (cloud, containers, loopback); harmless on a local node.
    wan_only: bool = True
    request_timeout_s: float = Field(30.0, gt=0)
    # The upload stream syncs the catalog to the index after each batch that changed it.
    sync_on_upload: bool = True

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


class KafkaServiceConf(_Section):
    # Broker i (1-based) listens on port + 10*(i-1) and its controller on controller_port +
    # 10*(i-1); every node is a combined broker+controller (KRaft, static quorum).
    port: int = Field(9092, ge=1, le=65535)
    controller_port: int = Field(9093, ge=1, le=65535)
    heap: str = "512m"
    brokers: int = Field(1, ge=1, le=9)


class ElasticsearchServiceConf(_Section):
    heap: str = "512m"
    # Node i (1-based) serves HTTP on elasticsearch.port + i-1 and transport on port + 100 + i-1;
    # more than one node form one cluster (vodlake's indices then get one replica).
    nodes: int = Field(1, ge=1, le=9)
    # Elasticsearch refuses to run as root: when vodlake runs as root it runs the node as this user.
    user: str = "vodlake-es"
    java_home: str | None = None


class ObjectStoreServiceConf(_Section):
    """The embedded SeaweedFS server (S3 API on objectstore.endpoint's port); its other
    listeners are moved off common ports (edges use 8080 on 127.0.1.N)."""

    master_port: int = Field(19333, ge=1, le=55535)
    volume_port: int = Field(18080, ge=1, le=55535)
    filer_port: int = Field(18888, ge=1, le=55535)
    volume_size_limit_mb: int = Field(64, ge=8)
    # SeaweedFS may ignore SIGTERM for a long time: after this it is killed (and checked gone).
    stop_timeout_s: float = Field(10.0, gt=0)


class ObjectStoreConf(_Section):
    """The S3-compatible object store holding the origin (and, with lake_on_s3a, the lake).

    Credentials come from the AWS_* environment variables only; for the embedded
    server (`embedded`), vodlake puts its keys into the process environment when they are unset.
    """

    endpoint: str = "http://127.0.0.1:8333"
    region: str = "us-east-1"
    bucket: str = "vodlake-origin"
    # The lake gets its own bucket: nothing in it is ever public.
    lake_bucket: str = "vodlake-lake"
    lake_on_s3a: bool = False
    # with lake_on_s3a: paths.lake becomes s3a://<lake_bucket>/<lake_prefix>
    lake_prefix: str = "lake"
    # `vodlake services up` runs the local server at `endpoint`; off for a real S3.
    embedded: bool = True


class ServicesConf(_Section):
    """The local Kafka broker and Elasticsearch node that `vodlake services up` runs."""

    # Machine-level, not per data home: moving paths.home must not orphan running services or
    # re-download the artifacts.
    state_dir: str = "/var/tmp/vodlake/services"
    cache_dir: str = "/var/tmp/vodlake/cache"
    # Jobs start the local services when they are not running; turn off on a real cluster.
    autostart: bool = True
    start_timeout_s: float = Field(180.0, gt=0)
    kafka: KafkaServiceConf = KafkaServiceConf()
    elasticsearch: ElasticsearchServiceConf = ElasticsearchServiceConf()
    objectstore: ObjectStoreServiceConf = ObjectStoreServiceConf()


class StreamingConf(_Section):
    # "availableNow" processes what is there and stops; "processingTime" runs every interval.
    trigger: Literal["availableNow", "processingTime"] = "processingTime"
    interval: str = "1 second"


class Rung(_Section):
    name: str
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    bitrate_kbps: int = Field(gt=0)


class LimitsConf(_Section):
    max_width: int = 3840
    max_height: int = 2160
    max_duration_s: float = 4 * 3600.0
    max_bytes: int = 20 * 1024**3


class TranscodeConf(_Section):
    segment_seconds: float = Field(4.0, gt=0)
    codec: Literal["h264", "av1"] = "h264"
    crf: int = Field(23, ge=0, le=63)
    preset: str = "veryfast"
    # maxrate = bitrate * maxrate_factor, bufsize = bitrate * bufsize_factor (capped CRF)
    maxrate_factor: float = Field(1.1, gt=0)
    bufsize_factor: float = Field(2.0, gt=0)
    audio_bitrate_kbps: int = 128
    threads_per_unit: int = Field(1, ge=0)
    # A unit of work is this many whole segments of one video (the last unit may be shorter).
    segments_per_chunk: int = Field(2, ge=1)
    max_attempts: int = Field(3, ge=1)
    # Test hook: units ("<video_id>/<unit>", fnmatch patterns) whose first task attempt fails,
    # to show that Spark retries them. Empty in every real environment.
    fail_first_attempt: tuple[str, ...] = ()
    # A task that found the object store down waits this long before Spark retries it.
    store_retry_wait_s: float = Field(5.0, ge=0)
    ladder: tuple[Rung, ...] = ()
    limits: LimitsConf = LimitsConf()


class EdgeConf(_Section):
    id: str
    region: str
    isp: str
    capacity_bytes: int = Field(gt=0)
    fill_window_hours: float = Field(12.0, gt=0)
    fill_rate_gbps: float = Field(1.2, gt=0)

    @property
    def fill_budget_bytes(self) -> int:
        return int(self.fill_rate_gbps * 1e9 / 8 * self.fill_window_hours * 3600)


class PopulationConf(_Section):
    region: str
    isp: str
    clients: int = Field(gt=0)
    weight: float = Field(1.0, gt=0)
    # Client address prefixes (CIDR) this ISP announces in this region: steering matches the
    # connection's peer address against them, players bind inside them (127.x.y.z on loopback).
    prefixes: tuple[str, ...] = ()


class TopologyConf(_Section):
    regions: tuple[str, ...] = ()
    isps: tuple[str, ...] = ()
    edges: tuple[EdgeConf, ...] = ()
    populations: tuple[PopulationConf, ...] = ()


class EdgesConf(_Section):
    """The nginx edges run locally, one per topology edge (vodlake.delivery.edges)."""

    # Edge i (0-based, topology order) listens on <address_prefix>.<i+1>:<port>.
    address_prefix: str = "127.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # Pull-through freshness: a cached origin object is revalidated or fetched again after this.
    ttl_s: int = Field(3600, ge=1)
    # nginx forgets cached objects unread this long whatever their freshness (default 10 min
    # in nginx, far too short for video): kept long, so only max_size evicts.
    cache_inactive_s: int = Field(30 * 86400, ge=60)
    # <state_dir>/<edge_id>/ holds config, prefill store, cache, logs, pid; default
    # <services.state_dir>/edges.
    state_dir: str | None = None
    # Base URL such that <origin_url>/videos/<id>/... is the origin file; default: the
    # object store's public URL of the origin bucket.
    origin_url: str | None = None
    worker_processes: int = Field(1, ge=1)
    # Fill rate limit in bytes/s; default each edge's fill_rate_gbps.
    fill_rate_bytes_s: int | None = Field(None, gt=0)


class PlaybackConf(_Section):
    max_payload_bytes: int = 4096
    future_skew_s: int = 300
    # how far apart two copies of one event_id may be (event_time) for silver to drop the later
    dedupe_window: str = "1 hour"
    # Event-id hashes of recent silver rows kept on the driver (16 bytes each), so a batch whose
    # ids are all new skips reading silver back; 0 turns the index off (every batch reads silver).
    dedupe_index_rows: int = Field(5_000_000, ge=0)


class PlacementConf(_Section):
    trend_half_life_days: float = Field(2.0, gt=0)
    # Days of silver the trend and forecast look back over (weights beyond it are negligible).
    trend_lookback_days: int = Field(7, ge=1)
    # Tomorrow's forecast (vodlake.placement.params.ForecastParams, shared by the nightly Spark
    # chain and the offline evaluator): decay of the title demand, prior strengths (requests)
    # shrinking an edge toward its region and a region toward all edges, pseudo-requests
    # pulling a title's chunk curve and an edge's rendition mix to the pooled ones, and the
    # age (days) until which a release follows the decay of earlier releases.
    forecast_half_life_days: float = Field(0.5, gt=0)
    edge_prior_requests: float = Field(20_000.0, ge=0)
    region_prior_requests: float = Field(50_000.0, ge=0)
    chunk_prior: float = Field(40.0, gt=0)
    mix_prior: float = Field(200.0, gt=0)
    release_age_days: int = Field(4, ge=0)
    early_chunk_weight: float = Field(1.5, ge=1.0)
    early_chunks: int = Field(8, ge=0)
    min_swap_gain: float = Field(0.05, ge=0)


class SteeringConf(_Section):
    """`vodlake steering serve`: ranks edges for a client and a title (issue 13)."""

    host: str = "127.0.0.1"
    port: int = Field(8400, ge=1, le=65535)
    # Each edge's /health and /inventory.json are polled this often; an edge that does not
    # answer one poll is out until it answers again.
    health_interval_s: float = Field(2.0, gt=0)
    health_timeout_s: float = Field(1.0, gt=0)
    # The ready-video catalog (Delta `videos`) is re-read at most this often.
    catalog_refresh_s: float = Field(10.0, gt=0)


class PlayersConf(_Section):
    """`vodlake watch`: simulated viewers that really fetch segments (issue 13)."""

    # Last-mile bandwidth per session: lognormal around the median, clipped to [min, max].
    bandwidth_median_kbps: float = Field(6000.0, gt=0)
    bandwidth_sigma: float = Field(0.7, ge=0)
    bandwidth_min_kbps: float = Field(400.0, gt=0)
    bandwidth_max_kbps: float = Field(30000.0, gt=0)
    # Buffer: playback starts after the first segment; no fetch while the buffer is this full.
    max_buffer_s: float = Field(30.0, gt=0)
    # Below this buffer the throughput rule decides, above it the BOLA buffer rule (dash.js).
    bola_buffer_s: float = Field(12.0, ge=0)
    safety_factor: float = Field(0.9, gt=0, le=1)
    # A request with no progress for this long is a stall: retry on the next URL.
    stall_timeout_s: float = Field(4.0, gt=0)
    request_timeout_s: float = Field(20.0, gt=0)
    steer_timeout_s: float = Field(5.0, gt=0)
    # Media seconds per wall second (1 = real time); bandwidth is scaled by the same factor.
    speed: float = Field(1.0, gt=0)


class WebConf(_Section):
    """`vodlake web`: the search and watch page (issue 13)."""

    host: str = "127.0.0.1"
    port: int = Field(8500, ge=1, le=65535)


class DemoConf(_Section):
    events: int = Field(10_000, ge=1)


class Config(_Section):
    env: str = "local"
    spark: SparkConf = SparkConf()
    paths: PathsConf = PathsConf()
    kafka: KafkaConf = KafkaConf()
    elasticsearch: ElasticsearchConf = ElasticsearchConf()
    services: ServicesConf = ServicesConf()
    objectstore: ObjectStoreConf = ObjectStoreConf()
    streaming: StreamingConf = StreamingConf()
    transcode: TranscodeConf = TranscodeConf()
    topology: TopologyConf = TopologyConf()
    edges: EdgesConf = EdgesConf()
    playback: PlaybackConf = PlaybackConf()
    placement: PlacementConf = PlacementConf()
    steering: SteeringConf = SteeringConf()
    players: PlayersConf = PlayersConf()
    web: WebConf = WebConf()
    demo: DemoConf = DemoConf()

    def resolved(self) -> Config:
        """Fill `{home}`, `{bucket}` and `{origin}` in paths, `{home}` in service dirs."""
        home = os.path.expanduser(self.paths.home)
        paths = self.paths.model_copy(
            update={k: v.replace("{home}", home) for k, v in self.paths.model_dump().items()}
        )
        # then {bucket} (the origin bucket), then {origin} (the resolved origin)
        store = self.objectstore
        update = {k: v.replace("{bucket}", store.bucket) for k, v in paths.model_dump().items()}
        if store.lake_on_s3a:
            update["lake"] = f"s3a://{store.lake_bucket}/{store.lake_prefix.strip('/')}"
        origin = update["origin"].rstrip("/")
        update = {
            k: (v if k == "origin" else v.replace("{origin}", origin)) for k, v in update.items()
        }
        paths = paths.model_copy(update=update)
        services = self.services.model_copy(
            update={
                "state_dir": self.services.state_dir.replace("{home}", home),
                "cache_dir": self.services.cache_dir.replace("{home}", home),
            }
        )
        return self.model_copy(update={"paths": paths, "services": services})


class Secrets(BaseModel):
    """Secrets come from the environment only, never from conf files."""

    es_username: str | None = None
    es_password: str | None = None

    @classmethod
    def from_env(cls) -> Secrets:
        return cls(
            es_username=os.environ.get("VODLAKE_ES_USERNAME"),
            es_password=os.environ.get("VODLAKE_ES_PASSWORD"),
        )


def conf_dir() -> Path:
    """The folder holding base.yaml: $VODLAKE_CONF_DIR, else the checkout's conf/."""
    explicit = os.environ.get("VODLAKE_CONF_DIR")
    if explicit:
        return Path(explicit)
    return Path(__file__).resolve().parent.parent / "conf"


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def env_overrides(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """VODLAKE__SPARK__MASTER=spark://h:7077 becomes {"spark": {"master": "spark://h:7077"}}."""
    environ = dict(os.environ if environ is None else environ)
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__") if k]
        if not keys:
            continue
        node = out
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = yaml.safe_load(raw) if raw != "" else ""
    return out


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown key '{key}'")
        else:
            lines.append(f"key '{key}': {err['msg']} (got {err.get('input')!r})")
    return "; ".join(lines)


def build(data: dict[str, Any]) -> Config:
    """Validate a merged mapping into a Config, naming the offending key on error."""
    try:
        return Config.model_validate(data).resolved()
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {_describe(exc)}") from None


def load_config(
    env: str | None = None,
    overrides: dict[str, Any] | None = None,
    directory: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Config:
    """base.yaml <- <env>.yaml <- VODLAKE__* variables <- explicit overrides."""
    environ = dict(os.environ if environ is None else environ)
    env = env or environ.get("VODLAKE_ENV", "local")
    folder = directory or conf_dir()
    base = folder / "base.yaml"
    if not base.exists():
        raise ConfigError(f"{base} not found: set VODLAKE_CONF_DIR to the folder with base.yaml")
    data = _read_yaml(base)
    env_file = folder / f"{env}.yaml"
    if env_file.exists():
        data = _deep_merge(data, _read_yaml(env_file))
    elif env != "base":
        raise ConfigError(f"no conf file for environment '{env}' ({env_file})")
    data = _deep_merge(data, env_overrides(environ))
    data = _deep_merge(data, overrides or {})
    data["env"] = env
    return build(data)


@functools.lru_cache(maxsize=8)
def _cached(env: str | None) -> Config:
    return load_config(env)


def load(env: str | None = None) -> Config:
    """The process-wide config for `env` (default $VODLAKE_ENV or local), loaded once."""
    return _cached(env or os.environ.get("VODLAKE_ENV", "local"))
