"""Steering: which edges a client should fetch a title from, best first (issue 13).

Ranked as Open Connect's steering and Traffic Control's Traffic Router do it:
1. edges inside the ISP that announces the client's address (`topology.populations[].prefixes`,
   matched against the connection's peer address, never a header a client could forge);
2. healthy only: each edge's `/health` is polled every `steering.health_interval_s`; one failed
   poll takes it out, the next good one brings it back;
3. edges that hold the title (their `/inventory.json`, polled with health) ahead of the rest;
4. within a group, rendezvous (highest-random-weight) hashing of the video id, so one title's
   requests concentrate on one edge of a site and the site's caches do not all hold everything;
5. then the region's other healthy edges (same rules), then the origin.
A client in no announced prefix is ranked over every healthy edge, then the origin.

The catalog is the `videos` Delta table's ready rows, read with delta-rs (`deltalake`) so the
service needs no JVM and sees new titles within `catalog_refresh_s` (an unknown id triggers an
early re-read, at most once a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vodlake.config import Config
from vodlake.delivery.rendezvous import hrw
from vodlake.errors import VodlakeError

log = logging.getLogger("vodlake.steering")

VIDEO_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")
_CATALOG_COLUMNS = ("video_id", "status", "title", "duration_s", "hls_uri", "dash_uri")


@dataclass(frozen=True)
class Title:
    video_id: str
    title: str
    duration_s: float | None
    hls_rel: str  # path under the origin's videos/ folder, e.g. <id>/master.m3u8
    dash_rel: str | None
    hls_uri: str
    dash_uri: str | None


@dataclass
class EdgeState:
    id: str
    region: str
    isp: str
    base_url: str
    healthy: bool = False
    checked_at: float = 0.0
    reason: str = "not polled yet"
    holds: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Candidate:
    kind: str  # edge | origin
    id: str
    base_url: str
    hls_url: str
    dash_url: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "base_url": self.base_url,
            "hls_url": self.hls_url,
            "dash_url": self.dash_url,
            "reason": self.reason,
        }


# ----------------------------------------------------------------------------------------------
# Catalog


def _relative(uri: str | None, video_id: str) -> str | None:
    """`<anything>/videos/<id>/master.m3u8` -> `<id>/master.m3u8` (the path edges serve)."""
    if not uri:
        return None
    marker = f"/videos/{video_id}/"
    at = uri.rfind(marker)
    return uri[at + len("/videos/") :] if at >= 0 else None


def _delta_location(cfg: Config, uri: str) -> tuple[str, dict[str, str]]:
    """A Hadoop-style table URI as delta-rs wants it, plus its storage options."""
    if uri.startswith("file://"):
        return uri[len("file://") :], {}
    if uri.startswith("/"):
        return uri, {}
    if uri.startswith("s3a://"):
        opts = {"AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
        store = getattr(cfg, "objectstore", None)
        if store is not None:
            opts["AWS_ENDPOINT_URL"] = str(store.endpoint)
            opts["AWS_REGION"] = str(store.region)
        return "s3://" + uri[len("s3a://") :], opts
    raise VodlakeError(f"steering cannot read the catalog at {uri}", hint="file:// or s3a:// lake")


def read_ready_titles(cfg: Config) -> dict[str, Title]:
    """The ready videos of the catalog (empty when nothing was uploaded yet)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    path, options = _delta_location(cfg, cfg.paths.lake.rstrip("/") + "/videos")
    try:
        table = DeltaTable(path, storage_options=options or None)
    except TableNotFoundError:
        return {}
    rows = table.to_pyarrow_table(columns=list(_CATALOG_COLUMNS)).to_pylist()
    out: dict[str, Title] = {}
    for row in rows:
        vid = row["video_id"]
        hls_rel = _relative(row["hls_uri"], vid)
        if row["status"] != "ready" or hls_rel is None:
            continue
        out[vid] = Title(
            video_id=vid,
            title=row["title"] or vid,
            duration_s=row["duration_s"],
            hls_rel=hls_rel,
            dash_rel=_relative(row["dash_uri"], vid),
            hls_uri=row["hls_uri"],
            dash_uri=row["dash_uri"],
        )
    return out


class Catalog:
    """Ready titles, re-read every `refresh_s` and early (at most once a second) on a miss."""

    def __init__(self, cfg: Config, titles: dict[str, Title] | None = None) -> None:
        self.cfg = cfg
        self.titles: dict[str, Title] = titles or {}
        self.read_at = 0.0 if titles is None else time.monotonic()
        self.fixed = titles is not None

    def refresh(self, force: bool = False) -> None:
        if self.fixed:
            return
        now = time.monotonic()
        age = now - self.read_at
        if age < 1.0 or (not force and age < self.cfg.steering.catalog_refresh_s):
            return
        self.read_at = now
        try:
            self.titles = read_ready_titles(self.cfg)
        except Exception as exc:  # keep serving the last good catalog
            log.warning("catalog read failed, keeping %d titles: %s", len(self.titles), exc)

    def get(self, video_id: str) -> Title | None:
        self.refresh()
        title = self.titles.get(video_id)
        if title is None:
            self.refresh(force=True)
            title = self.titles.get(video_id)
        return title


# ----------------------------------------------------------------------------------------------
# Ranking


def edge_urls(cfg: Config) -> dict[str, str]:
    """Each edge's base URL (edge i listens on 127.0.1.<i+1>:<edges.port>, INTERFACES.md)."""
    try:
        from vodlake.delivery.edges import edge_base_url
    except ImportError:  # the edges module has not landed: its documented address scheme
        prefix, port = cfg.edges.address_prefix, cfg.edges.port
        return {e.id: f"http://{prefix}.{i + 1}:{port}" for i, e in enumerate(cfg.topology.edges)}
    return {e.id: edge_base_url(cfg, e.id) for e in cfg.topology.edges}


def origin_url(cfg: Config, uri: str) -> str | None:
    """The origin's plain-HTTP URL of an object, or None when the origin is not served."""
    try:
        from vodlake.lake.storage import public_url
    except ImportError:
        return None
    try:
        return public_url(cfg, uri)
    except Exception:
        return None


class Prefixes:
    """Client address -> (region, isp) from the populations' announced prefixes."""

    def __init__(self, cfg: Config) -> None:
        self.nets: list[tuple[Any, str, str]] = []
        for pop in cfg.topology.populations:
            for text in pop.prefixes:
                try:
                    net = ipaddress.ip_network(text, strict=False)
                except ValueError:
                    raise VodlakeError(
                        f"population {pop.region}/{pop.isp}: bad prefix {text!r}",
                        hint="write CIDR prefixes like 127.10.0.0/16",
                    ) from None
                self.nets.append((net, pop.region, pop.isp))
        # longest prefix wins, as in routing
        self.nets.sort(key=lambda n: -n[0].prefixlen)
        self._seen: dict[str, tuple[str, str] | None] = {}

    def match(self, address: str) -> tuple[str, str] | None:
        if address in self._seen:
            return self._seen[address]
        if len(self._seen) > 65536:
            self._seen.clear()
        self._seen[address] = found = self._match(address)
        return found

    def _match(self, address: str) -> tuple[str, str] | None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        for net, region, isp in self.nets:
            if ip.version == net.version and ip in net:
                return region, isp
        return None


class Steering:
    """The ranking state: edge health/inventory, the catalog, the prefixes."""

    def __init__(self, cfg: Config, catalog: Catalog | None = None) -> None:
        self.cfg = cfg
        self.catalog = catalog or Catalog(cfg)
        self.prefixes = Prefixes(cfg)
        urls = edge_urls(cfg)
        self.edges = [EdgeState(e.id, e.region, e.isp, urls[e.id]) for e in cfg.topology.edges]
        self._origins: dict[Title, Candidate | bool] = {}

    def rank(self, client: str, title: Title) -> tuple[list[Candidate], dict[str, Any]]:
        """Ranked candidates for `client` and `title`, and what the decision was based on."""
        where = self.prefixes.match(client)
        vid = title.video_id
        healthy = [e for e in self.edges if e.healthy]
        down = [e.id for e in self.edges if not e.healthy]

        def order(group: Iterable[EdgeState]) -> list[EdgeState]:
            return sorted(group, key=lambda e: (vid not in e.holds, -hrw(vid, e.id)))

        groups: list[tuple[str, list[EdgeState]]]
        if where is None:
            groups = [("no ISP prefix matches the client: any healthy edge", order(healthy))]
        else:
            region, isp = where
            own = [e for e in healthy if e.isp == isp]
            rest = [e for e in healthy if e.isp != isp and e.region == region]
            groups = [(f"in the client's ISP {isp}", order(own))]
            groups.append((f"another ISP in region {region}", order(rest)))
        out: list[Candidate] = []
        for why, group in groups:
            for e in group:
                holds = "holds the title" if vid in e.holds else "does not hold the title"
                out.append(
                    Candidate(
                        "edge",
                        e.id,
                        e.base_url,
                        f"{e.base_url}/videos/{title.hls_rel}",
                        f"{e.base_url}/videos/{title.dash_rel}" if title.dash_rel else None,
                        f"{why}, healthy, {holds}",
                    )
                )
        origin = self._origins.get(title)
        if origin is None:  # parsing URIs costs more than the ranking: once per title
            hls = origin_url(self.cfg, title.hls_uri)
            dash = origin_url(self.cfg, title.dash_uri) if title.dash_uri and hls else None
            base = hls[: hls.rfind(f"/videos/{title.hls_rel}")] if hls else None
            origin = self._origins[title] = (
                Candidate("origin", "origin", base, hls, dash, "origin: last resort")
                if hls and base
                else False
            )
        if origin:
            out.append(origin)
        context = {
            "address": client,
            "region": where[0] if where else None,
            "isp": where[1] if where else None,
            "unhealthy": down,
        }
        return out, context

    # -- health --------------------------------------------------------------------------------

    async def poll_once(self, session: Any) -> None:
        await asyncio.gather(*(self._poll_edge(session, e) for e in self.edges))

    async def _poll_edge(self, session: Any, edge: EdgeState) -> None:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self.cfg.steering.health_timeout_s)
        was = edge.healthy
        try:
            async with session.get(f"{edge.base_url}/health", timeout=timeout) as resp:
                ok, reason = resp.status == 200, f"/health answered {resp.status}"
            if ok:
                async with session.get(f"{edge.base_url}/inventory.json", timeout=timeout) as r:
                    if r.status == 200:
                        doc = json.loads(await r.read())
                        edge.holds = frozenset((doc.get("videos") or {}).keys())
                    else:
                        edge.holds = frozenset()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            ok, reason = False, f"/health failed: {type(exc).__name__} {exc}".strip()
        edge.healthy, edge.reason, edge.checked_at = ok, reason, time.time()
        if ok != was:
            state = "back in" if ok else "out"
            log.warning("edge %s %s: %s (holds %d titles)", edge.id, state, reason, len(edge.holds))

    async def poll_forever(self) -> None:
        import aiohttp

        interval = self.cfg.steering.health_interval_s
        async with aiohttp.ClientSession() as session:
            while True:
                started = time.monotonic()
                await self.poll_once(session)
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


# ----------------------------------------------------------------------------------------------
# HTTP service


def _error(status: int, message: str, **extra: Any) -> Any:
    from aiohttp import web

    return web.json_response({"error": message, **extra}, status=status)


def make_app(steering: Steering, poll: bool = True) -> Any:
    """The aiohttp application: /v1/steer, /v1/catalog, /v1/edges, /health."""
    from aiohttp import web

    async def steer(request: web.Request) -> web.Response:
        values = request.query.getall("video_id", [])
        extra = sorted(set(request.query) - {"video_id"})
        if len(values) != 1 or not VIDEO_ID.match(values[0]) or extra:
            why = "exactly one video_id of letters, digits, '_', '.', '-' and no other parameter"
            log.info("steer 400 from %s: %s", request.remote, dict(request.query))
            return _error(400, f"bad request: expected {why}")
        vid = values[0]
        title = steering.catalog.get(vid)
        if title is None:
            log.info("steer 404 from %s: unknown video %s", request.remote, vid)
            return _error(404, f"unknown video {vid!r}: not a ready title", video_id=vid)
        client = request.remote or ""
        ranked, context = steering.rank(client, title)
        if not ranked:
            log.warning("steer 503 for %s from %s: no healthy edge, no origin", vid, client)
            return _error(503, "no healthy edge and no origin URL", video_id=vid)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "steer %s for %s (isp %s): %s; unhealthy: %s",
                vid,
                client,
                context["isp"],
                " > ".join(f"{c.id} [{c.reason}]" for c in ranked),
                ",".join(context["unhealthy"]) or "none",
            )
        return web.json_response(
            {
                "video_id": vid,
                "title": title.title,
                "client": context,
                "hls_url": ranked[0].hls_url,
                "dash_url": ranked[0].dash_url,
                "urls": [c.as_dict() for c in ranked],
                "ttl_s": steering.cfg.steering.health_interval_s,
            }
        )

    async def catalog(request: web.Request) -> web.Response:
        steering.catalog.refresh()
        titles = sorted(steering.catalog.titles.values(), key=lambda t: t.video_id)
        return web.json_response(
            [{"video_id": t.video_id, "title": t.title, "duration_s": t.duration_s} for t in titles]
        )

    async def edges(request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "id": e.id,
                    "isp": e.isp,
                    "region": e.region,
                    "base_url": e.base_url,
                    "healthy": e.healthy,
                    "reason": e.reason,
                    "checked_at": e.checked_at,
                    "titles": len(e.holds),
                }
                for e in steering.edges
            ]
        )

    async def health(request: web.Request) -> web.Response:
        up = sum(e.healthy for e in steering.edges)
        return web.json_response(
            {"status": "ok", "edges_healthy": up, "edges": len(steering.edges)}
        )

    async def on_startup(app: web.Application) -> None:
        steering.catalog.refresh(force=True)
        if poll:
            app["poller"] = asyncio.create_task(steering.poll_forever())

    async def on_cleanup(app: web.Application) -> None:
        task = app.get("poller")
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @web.middleware
    async def cors(request: web.Request, handler: Any) -> web.StreamResponse:
        # browsers on another origin (the web page) ask steering directly
        response = await handler(request)
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    app = web.Application(middlewares=[cors])
    app.router.add_get("/v1/steer", steer)
    app.router.add_get("/v1/catalog", catalog)
    app.router.add_get("/v1/edges", edges)
    app.router.add_get("/health", health)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def serve(cfg: Config, host: str | None = None, port: int | None = None) -> None:
    """Run the steering service until SIGINT/SIGTERM."""
    from aiohttp import web

    host = host or cfg.steering.host
    port = port or cfg.steering.port
    app = make_app(Steering(cfg))
    interval = cfg.steering.health_interval_s
    log.info("steering on http://%s:%d (health every %.1fs)", host, port, interval)
    web.run_app(app, host=host, port=port, access_log=None, print=None, handle_signals=True)
