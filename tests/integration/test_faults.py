"""Faults: brokers of a 3-broker Kafka cluster and a node of a 3-node Elasticsearch cluster are
killed (SIGKILL, by pid) while data flows; nothing is lost and nothing is written twice.

The module starts its OWN clusters (ports picked free from 29092/29200 on, state under /var/tmp
because the search nodes run as the service user) and shares them between its tests; they are
stopped at the end. The shared broker on 9092 and node on 9200 are never touched.

Every test prints its figures (events produced, rows landed, duplicates, errors seen by clients,
seconds to recover); the module prints them all again at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_playback_ingest import _expected_rows, _silver_rows
from vodlake.config import Config, _deep_merge, load_config
from vodlake.lake import kafka_io
from vodlake.services.common import port_open
from vodlake.services.elasticsearch import ElasticsearchService
from vodlake.services.kafka import KafkaService

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
FIGURES: list[str] = []


# ----------------------------------------------------------------------------------------------
# The clusters


def _free_base(start: int, offsets: tuple[int, ...], step: int = 500) -> int:
    """The first base port (start, start + step, ...) whose base + offsets are all free."""
    for base in range(start, start + 20 * step, step):
        if not any(port_open("127.0.0.1", base + off) for off in offsets):
            return base
    raise AssertionError(f"no free ports from {start} on")


@dataclass
class Clusters:
    kafka: KafkaService
    es: ElasticsearchService
    overrides: dict[str, Any]

    def cfg(self, home: Path, **more: Any) -> Config:
        """The module's cluster settings with this test's own lake (and more overrides)."""
        tree = _deep_merge(self.overrides, {"paths": {"home": str(home)}})
        return load_config("test", overrides=_deep_merge(tree, more))

    def set_args(self) -> list[str]:
        """`--set` arguments that point a vodlake command at these clusters."""
        k, e = self.overrides["kafka"], self.overrides["elasticsearch"]
        svc = self.overrides["services"]
        return [
            "--set",
            f"kafka.bootstrap_servers={k['bootstrap_servers']}",
            "--set",
            f"elasticsearch.port={e['port']}",
            "--set",
            f"services.kafka.brokers={svc['kafka']['brokers']}",
            "--set",
            "services.autostart=false",
        ]


@pytest.fixture(scope="module")
def clusters(cfg, request: pytest.FixtureRequest) -> Iterator[Clusters]:
    kbase = _free_base(29092, (0, 1, 10, 11, 20, 21))
    ebase = _free_base(29200, (0, 1, 2, 100, 101, 102))
    state = Path(tempfile.mkdtemp(prefix="vodlake-faults-", dir="/var/tmp"))
    overrides = {
        "kafka": {"bootstrap_servers": ",".join(f"127.0.0.1:{kbase + 10 * i}" for i in range(3))},
        "elasticsearch": {"port": ebase, "index_prefix": f"vodlake-faults-{uuid.uuid4().hex[:8]}"},
        "streaming": {"trigger": "processingTime", "interval": "1 second"},
        "services": {
            "state_dir": str(state),
            "cache_dir": cfg.services.cache_dir,  # the downloaded jars and distribution
            "autostart": False,
            "kafka": {"brokers": 3, "port": kbase, "controller_port": kbase + 1, "heap": "256m"},
            "elasticsearch": {"nodes": 3, "heap": "320m"},
        },
    }
    home = {"paths": {"home": str(state)}}
    base_cfg = load_config("test", overrides=_deep_merge(overrides, home))
    kafka, es = KafkaService(base_cfg), ElasticsearchService(base_cfg)
    assert kafka.nodes[0].port != 9092 and es.port != 9200
    errors: list[BaseException] = []

    def start(svc: KafkaService | ElasticsearchService) -> None:
        try:
            svc.up()
        except BaseException as exc:  # reported below, after both had their chance
            errors.append(exc)

    try:
        threads = [threading.Thread(target=start, args=(s,)) for s in (kafka, es)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        yield Clusters(kafka, es, overrides)
    finally:
        kafka.down()
        es.down()
        shutil.rmtree(state, ignore_errors=True)
        reporter = request.config.pluginmanager.getplugin("terminalreporter")
        if FIGURES and reporter is not None:
            reporter.write_line("\nFAULT FIGURES")
            for line in FIGURES:
                reporter.write_line(f"  {line}")


def _report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    FIGURES.append(line)
    with capsys.disabled():
        print(f"\n  {line}")


def _wait(check: Callable[[], bool], what: str, timeout: float = 180.0) -> float:
    """Poll until `check()`; return the seconds it took."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.3)
    return time.monotonic() - t0


def _kill(pid: int | None) -> None:
    """kill -9 one process by pid (a broker, a search node's server JVM)."""
    assert pid is not None, "the process to kill is not running"
    os.kill(pid, signal.SIGKILL)


# ----------------------------------------------------------------------------------------------
# Kafka helpers


def _topic_min_isr(cfg: Config, topic: str) -> str:
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=cfg.kafka.bootstrap_servers)
    try:
        resp = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])[0]
    finally:
        admin.close()
    entries = resp.resources[0][4]  # (error, message, type, name, entries); entry: name, value
    return next(e[1] for e in entries if e[0] == "min.insync.replicas")


def _victim(kafka: KafkaService, topic: str, avoid_controller: bool = True) -> int:
    """A broker that leads partitions of `topic` (not the controller: that is its own fault)."""
    controller = kafka.controller()
    leads: dict[int, int] = {}
    for p in kafka.partitions([topic]):
        leads[p.leader] = leads.get(p.leader, 0) + 1
    candidates = [b for b in leads if b >= 0 and not (avoid_controller and b == controller)]
    assert candidates, f"every partition of {topic} is led by the controller {controller}"
    return max(candidates, key=lambda b: leads[b])


def _leaders_moved(kafka: KafkaService, topic: str, dead: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return all(p.leader not in (dead, -1) for p in kafka.partitions([topic]))
        except Exception:
            return False

    return check


def _isr_full(kafka: KafkaService, topic: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return all(len(p.isr) == len(p.replicas) == 3 for p in kafka.partitions([topic]))
        except Exception:
            return False

    return check


def _restart(kafka: KafkaService, topic: str) -> float:
    """Start the killed broker again; seconds until it is back in every ISR of `topic`."""
    t0 = time.monotonic()
    assert kafka.up() is True  # it really was down
    _wait(_isr_full(kafka, topic), "the restarted broker to rejoin the ISR")
    return time.monotonic() - t0


def _vodlake(*args: str) -> list[str]:
    exe = Path(sys.executable).parent / "vodlake"
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "vodlake.cli", *args]


# ----------------------------------------------------------------------------------------------
# 1. A broker dies while simulate-playback produces and the playback stream consumes


def _generated(out: Path) -> list[dict[str, Any]]:
    """The events simulate-playback wrote to its --out files."""
    return [json.loads(line) for path in sorted(out.glob("*")) for line in path.open()]


def test_broker_killed_while_playback_is_produced_and_ingested(
    clusters, spark, tmp_path, capsys
) -> None:
    from pyspark.sql import functions as F

    from vodlake.commands.reconcile import reconcile_playback
    from vodlake.lake.tables import Tables
    from vodlake.telemetry import ingest

    kafka = clusters.kafka
    topic = f"playback-fault-{uuid.uuid4().hex[:8]}"
    cfg = clusters.cfg(tmp_path / "home", kafka={"topics": {"playback": topic}})
    tables = Tables(cfg)
    kafka_io.ensure_topic(cfg, topic, partitions=3)
    parts = kafka.partitions([topic])
    assert [len(p.replicas) for p in parts] == [3, 3, 3]
    assert _topic_min_isr(cfg, topic) == "2"

    query = ingest.start_ingest(spark, cfg, topic=topic, once=False)
    out, log = tmp_path / "generated", tmp_path / "simulate.log"
    cmd = _vodlake(
        "simulate-playback", "--days", "1", "--sessions-per-day", "12", "--seed", "16",
        "--synthetic", "--videos", "30", "--start", "2026-11-20", "--rate", "300",
        "--out", str(out), "--topic", topic, *clusters.set_args(),
    )  # fmt: skip
    env = {**os.environ, "VODLAKE_ENV": "test", "PYTHONUNBUFFERED": "1"}
    with log.open("w") as sink:
        producer = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
    restarted_query = False
    try:
        _wait(lambda: "producing to Kafka" in log.read_text(), "simulate-playback to produce")
        time.sleep(3)  # a few hundred events in flight before the broker dies
        victim = _victim(kafka, topic)
        _kill(kafka.node(victim).pid())
        failover = _wait(_leaders_moved(kafka, topic, victim), "new partition leaders")
        assert producer.wait(timeout=300) == 0, log.read_text()
        rejoin = _restart(kafka, topic)
        in_topic = sum(kafka_io.end_offsets(cfg, topic).values())

        def landed() -> bool:
            nonlocal query, restarted_query
            if not query.isActive:  # died with the broker: resume from the checkpoint
                restarted_query = True
                query = ingest.start_ingest(spark, cfg, topic=topic, once=False)
            return tables.read(spark, "bronze_playback").count() >= in_topic

        catch_up = _wait(landed, "bronze to reach the end of the topic", timeout=300)
        query.processAllAvailable()  # the batch that wrote the last bronze rows ends (silver)
        assert query.isActive and query.exception() is None
    finally:
        query.stop()
        if producer.poll() is None:
            producer.kill()
    generated = _generated(out)
    sent = int(log.read_text().split("sent ")[-1].split()[0].replace(",", ""))
    assert sent == len(generated)
    bronze = tables.read(spark, "bronze_playback")
    bronze_rows = bronze.count()
    bronze_repeats = bronze_rows - bronze.select("partition", "offset").distinct().count()
    silver = _silver_rows(spark, cfg)
    silver_dups = len(silver) - len({r[0] for r in silver})
    check = reconcile_playback(spark, cfg)
    _report(
        capsys,
        f"broker {victim} killed during simulate-playback + stream playback: "
        f"{len(generated):,} events generated, {sent:,} acked, {in_topic:,} in the topic "
        f"({in_topic - sent} duplicates), {bronze_rows:,} bronze rows ({bronze_repeats} repeats), "
        f"{len(silver):,} silver rows ({silver_dups} duplicate event ids); "
        f"reconciliation {'holds' if check.holds else 'FAILS'}; leaders moved in {failover:.1f}s, "
        f"restarted broker back in every ISR in {rejoin:.1f}s, stream caught up {catch_up:.1f}s "
        f"later, query {'restarted' if restarted_query else 'kept running'}",
    )
    assert in_topic == sent  # idempotent producer: no record written twice by a retry
    assert bronze_rows == in_topic and bronze_repeats == 0
    assert len({e["event_id"] for e in generated}) == len(generated)
    assert sorted(silver) == sorted(_expected_rows(generated))  # row for row
    assert check.holds and (check.quarantine, check.duplicates) == (0, 0)
    assert bronze.where(F.col("kafka_timestamp").isNull()).count() == 0


# ----------------------------------------------------------------------------------------------
# 2. A broker dies during an upload batch


def _partition_of(key: str, partitions: int) -> int:
    """The partition kafka-python's default partitioner picks for `key`."""
    from kafka.partitioner.default import murmur2

    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def test_broker_killed_during_an_upload_batch(clusters, spark, tmp_path, capsys) -> None:
    from pyspark.sql import functions as F

    from vodlake.catalog import stream, uploads
    from vodlake.lake.tables import Tables
    from vodlake.media.samples import make_sample

    kafka = clusters.kafka
    topic = f"uploads-fault-{uuid.uuid4().hex[:8]}"
    cfg = clusters.cfg(
        tmp_path / "home",
        kafka={"topics": {"uploads": topic}},
        transcode={
            "segment_seconds": 2,
            "segments_per_chunk": 1,
            "preset": "ultrafast",
            "ladder": [{"name": "144p", "width": 256, "height": 144, "bitrate_kbps": 150}],
            "limits": {"max_width": 480, "max_height": 270, "max_duration_s": 60},
        },
    )
    tables = Tables(cfg)
    kafka_io.ensure_topic(cfg, topic, partitions=3)
    media = tmp_path / "media"
    first_file = make_sample(media / "a.mp4", 2, 320, 180, source="testsrc2", tone_hz=440)
    second_file = make_sample(media / "b.mp4", 2, 320, 180, source="smptehdbars", tone_hz=660)
    first = uploads.upload(cfg, first_file, uploads.Metadata(title="Fault first"))
    # the second upload is sent while the broker is down, to a partition that broker leads
    victim = _victim(kafka, topic)
    led = {p.partition for p in kafka.partitions([topic]) if p.leader == victim}
    second_id = next(
        f"fault-second-{i}" for i in range(1000) if _partition_of(f"fault-second-{i}", 3) in led
    )
    killed: dict[str, float] = {}
    second: dict[str, Any] = {}
    lines: list[str] = []

    def send_second() -> None:  # the producer must ride out the leader election
        t0 = time.monotonic()
        try:
            second["result"] = uploads.upload(
                cfg, second_file, uploads.Metadata(title="Fault second"), video_id=second_id
            )
        except BaseException as exc:  # asserted below
            second["error"] = exc
        second["seconds"] = time.monotonic() - t0

    sender = threading.Thread(target=send_second)

    def log(msg: str) -> None:
        lines.append(msg)
        if "transcoding" in msg and not killed:  # inside the first batch, before its outputs
            _kill(kafka.node(victim).pid())
            killed["at"] = time.monotonic()
            sender.start()

    reports: list = []
    restarts: list[str] = []
    query = stream.start(spark, cfg, once=False, log=log, reports=reports)
    try:

        def both_ready() -> bool:
            nonlocal query
            if "error" in second:  # the upload itself failed: say why now, not after the wait
                raise AssertionError(f"second upload failed: {second['error']!r}")
            if not query.isActive:  # died with the broker: resume from the checkpoint
                restarts.append(str(query.exception())[:200])
                query = stream.start(spark, cfg, once=False, log=log, reports=reports)
            if not tables.exists(spark, "videos"):
                return False
            rows = tables.read(spark, "videos").where(F.col("status") == "ready").collect()
            return {first.video_id, second_id} <= {r.video_id for r in rows}

        _wait(both_ready, "both videos ready", timeout=900)
        recovered = time.monotonic() - killed["at"]
        sender.join()
        failover = _wait(_leaders_moved(kafka, topic, victim), "new partition leaders")
        rejoin = _restart(kafka, topic)
        query.processAllAvailable()
    finally:
        query.stop()
    assert "error" not in second, second.get("error")
    videos = tables.read(spark, "videos")
    per_video = {r.video_id: r["count"] for r in videos.groupBy("video_id").count().collect()}
    segments = tables.read(spark, "segments")
    seg_rows = segments.count()
    seg_repeats = (
        seg_rows - segments.select("video_id", "rendition", "chunk_idx").distinct().count()
    )
    in_topic = sum(kafka_io.end_offsets(cfg, topic).values())
    _report(
        capsys,
        f"broker {victim} killed during upload batch 0: 2 upload events produced "
        f"(the second while the broker was down, acked after {second['seconds']:.1f}s), "
        f"{in_topic} in the topic, catalog rows {per_video}, {seg_rows} segment rows "
        f"({seg_repeats} repeats), {sum(r.ready for r in reports)} ready in "
        f"{len(reports)} batches; both ready {recovered:.1f}s after the kill, "
        f"restarted broker back in every ISR in {rejoin:.1f}s; query "
        f"{f'restarted {restarts}' if restarts else 'kept running'}",
    )
    assert failover >= 0 and in_topic == 2
    assert per_video == {first.video_id: 1, second_id: 1}  # exactly once in the catalog
    assert seg_repeats == 0 and seg_rows > 0
    statuses = {r.video_id: r.status for r in videos.collect()}
    assert statuses == {first.video_id: "ready", second_id: "ready"}
    assert sum(r.ready for r in reports) == 2


# ----------------------------------------------------------------------------------------------
# 3. A search node dies during a sync and a burst of searches


def _shards(es_svc: ElasticsearchService, index: str) -> list[dict[str, Any]]:
    from vodlake.services.elasticsearch import http_json

    _, _, body = http_json(f"{es_svc.nodes[0].address}/_cat/shards/{index}?format=json")
    return body if isinstance(body, list) else []


def _primary_off_entry_node(es, es_svc: ElasticsearchService, index: str) -> str:
    """Keep the primary off node 1 (the node clients talk to); return the primary's node."""
    copies = {s["prirep"]: s["node"] for s in _shards(es_svc, index)}
    entry = es_svc.nodes[0].name
    if copies["p"] == entry:
        spare = next(n.name for n in es_svc.nodes if n.name not in copies.values())
        es.cluster.reroute(
            commands=[{"move": {"index": index, "shard": 0, "from_node": entry, "to_node": spare}}]
        )
        es.cluster.health(
            wait_for_status="green", wait_for_no_relocating_shards=True, timeout="60s"
        )
        copies = {s["prirep"]: s["node"] for s in _shards(es_svc, index)}
    assert copies["p"] != entry
    return copies["p"]


@dataclass
class Searcher:
    """Searches in a loop through node 1 and counts what came back."""

    es: Any
    index: str
    body: dict[str, Any]
    ok: int = 0
    errors: int = 0
    partial: int = 0
    answered_while_down: int = 0
    down: bool = False
    messages: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                res = self.es.search(index=self.index, **self.body)
                if res["_shards"].get("failed"):
                    self.partial += 1
                elif res["hits"]["hits"]:
                    self.ok += 1
                    self.answered_while_down += self.down
                else:
                    self.errors += 1
                    self.messages.append("no hits")
            except Exception as exc:  # counted and reported, not hidden
                self.errors += 1
                self.messages.append(f"{type(exc).__name__}: {str(exc)[:120]}")
            time.sleep(0.02)


def test_search_node_killed_during_sync_and_searches(clusters, spark, tmp_path, capsys) -> None:
    from tests.search_fixtures import merge_videos, video_row
    from vodlake.cli import main as cli
    from vodlake.lake.tables import Tables
    from vodlake.search import index as search
    from vodlake.search.sync import check_index, sync_search

    es_svc = clusters.es
    home = tmp_path / "home"
    cfg = clusters.cfg(home)
    count = 1500
    path = Tables(cfg).ensure(spark, "videos")
    merge_videos(spark, path, [video_row(f"f{i:05d}", f"Fault film {i}") for i in range(count)])
    first = sync_search(spark, cfg)
    assert first.upserted == count
    es = search.client(cfg)
    alias = search.alias_name(cfg)
    index = search.alias_indices(es, alias)[0]
    replicas = es.indices.get_settings(index=index)[index]["settings"]["index"]
    assert replicas.get("auto_expand_replicas") == "0-1"
    copies = [s for s in _shards(es_svc, index) if s["state"] == "STARTED"]
    assert len(copies) == 2  # a primary and one replica, on different nodes
    victim_name = _primary_off_entry_node(es, es_svc, index)
    victim = next(n for n in es_svc.nodes if n.name == victim_name)

    # every video retitled: the next sync rewrites every document
    merge_videos(
        spark, path, [video_row(f"f{i:05d}", f"Fault film {i} re", seq=2) for i in range(count)]
    )
    searcher = Searcher(search.client(cfg), alias, search.search_body("fault film"))
    threading.Thread(target=searcher.run, daemon=True).start()
    killed: dict[str, float] = {}

    def kill_soon() -> None:
        time.sleep(0.5)  # es-hadoop is writing by now
        _kill(victim.server_pid())
        killed["at"] = time.monotonic()
        killed["mid_sync"] = not synced.is_set()
        searcher.down = True

    def progress(stage: str, info: dict) -> None:
        if stage == "upsert" and not killed:
            threading.Thread(target=kill_soon, daemon=True).start()

    sync_error = None
    synced = threading.Event()
    try:
        try:
            second = sync_search(spark, cfg, progress=progress)
        except Exception as exc:  # the next sync must converge
            sync_error = f"{type(exc).__name__}: {str(exc)[:200]}"
            second = None
        synced.set()
        _wait(lambda: "at" in killed, "the kill")
        _wait(
            lambda: (
                es.cluster.health()["number_of_nodes"] == 2
                and es.cluster.health(index=index)["active_primary_shards"] == 1
            ),
            "the replica to be promoted",
        )
        promoted = time.monotonic() - killed["at"]
        healed = None if second is not None else sync_search(spark, cfg)
        time.sleep(2)  # searches against the degraded cluster
        searcher.down = False
        t0 = time.monotonic()
        assert es_svc.up() is True
        es.cluster.health(index=index, wait_for_status="green", timeout="120s")
        green = time.monotonic() - t0
        time.sleep(1)
    finally:
        searcher.stop.set()
    result = check_index(spark, cfg)
    code = cli(
        ["search", "check", "--set", f"paths.home={home}", *clusters.set_args(),
         "--set", f"elasticsearch.index_prefix={cfg.elasticsearch.index_prefix}"]
    )  # fmt: skip
    done = second or healed
    _report(
        capsys,
        f"search node {victim_name} (primary) killed "
        f"{'during' if killed['mid_sync'] else 'AFTER'} a sync of {count} documents: sync "
        f"{'completed' if second else f'failed ({sync_error}), the next one converged'}; "
        f"{done.upserted} upserted; searches ok {searcher.ok} "
        f"({searcher.answered_while_down} while the node was down), errors {searcher.errors}, "
        f"partial {searcher.partial} {searcher.messages[:3]}; replica promoted within "
        f"{promoted:.1f}s, restarted node green in {green:.1f}s; check: "
        f"{len(result.missing)} missing, {len(result.extra)} extra, {len(result.stale)} stale",
    )
    assert killed["mid_sync"] and done.upserted == count
    assert searcher.answered_while_down > 0  # the replica answered
    assert result.ok and code == 0
    stats = es.count(index=alias)["count"]
    assert stats == count


# ----------------------------------------------------------------------------------------------
# 4. The active controller dies


def test_controller_killed_a_new_one_is_elected_and_producing_continues(
    clusters, tmp_path, capsys
) -> None:
    from kafka import KafkaConsumer

    from vodlake.commands.playback import throttle

    kafka = clusters.kafka
    topic = f"controller-fault-{uuid.uuid4().hex[:8]}"
    cfg = clusters.cfg(tmp_path / "home")
    kafka_io.ensure_topic(cfg, topic, partitions=3)
    old = kafka.controller()
    assert old is not None
    events = [{"event_id": f"c{i:05d}", "session_id": f"s{i % 101}"} for i in range(3000)]
    result: dict[str, Any] = {}

    def produce() -> None:
        try:
            result["sent"] = kafka_io.produce(
                cfg, topic, throttle(iter(events), 250), key="session_id"
            )
        except BaseException as exc:
            result["error"] = exc

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(3)
    _kill(kafka.node(old).pid())
    elected = _wait(lambda: kafka.controller() not in (None, old), "a new controller", timeout=120)
    new = kafka.controller()
    producer.join(timeout=300)
    assert "error" not in result, result.get("error")
    rejoin = _restart(kafka, topic)
    in_topic = sum(kafka_io.end_offsets(cfg, topic).values())
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=cfg.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    try:
        ids = [json.loads(m.value)["event_id"] for m in consumer]
    finally:
        consumer.close()
    _report(
        capsys,
        f"controller {old} killed while producing: new controller {new} elected within "
        f"{elected:.1f}s; {result['sent']:,} events acked, {in_topic:,} in the topic, "
        f"{len(ids):,} consumed ({len(ids) - len(set(ids))} duplicates); restarted broker "
        f"back in every ISR in {rejoin:.1f}s",
    )
    assert result["sent"] == len(events) == in_topic
    assert sorted(ids) == [e["event_id"] for e in events]
