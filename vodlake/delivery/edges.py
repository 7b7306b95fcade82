"""Edge appliances: one real nginx per `topology.edges` entry, configured and run from here.

Python writes each edge's nginx configuration and starts, reloads and stops the process; it
never sits between a player and a byte. An edge answers `GET|HEAD /videos/<video_id>/<path>`
from (a) its prefill store, the files the nightly fill put there (`try_files`), else (b) a
pull-through cache of the origin (`proxy_cache`):

- the cache may hold `capacity - prefill bytes` (`max_size`; nginx's cache manager evicts the
  least recently used objects above it), and `inactive` is kept long (nginx's default of 10
  minutes would forget fresh objects that are merely unread);
- a cached object is fresh for `edges.ttl_s` whatever the origin says, then revalidated
  (If-Modified-Since/ETag; X-Cache REVALIDATED) or fetched again (EXPIRED);
- concurrent misses for one object wait for one origin fetch (`proxy_cache_lock`);
- the cache key is the path only, so CMCD query arguments never split the cache, and no query
  string reaches the origin; Range and If-* headers are not forwarded: the whole object is
  fetched once and ranges are cut from the cached copy (206 from nginx itself);
- a request line holding `..`, an encoded dot, slash or backslash, or a NUL is refused (400)
  before any location runs, and only the path shape /videos/<id>/<name>[/<name>...] reaches
  the prefill store or the origin; everything else is 404, other methods 405.

Every /videos response carries `X-Cache` (PREFILL, HIT, MISS, EXPIRED, REVALIDATED, STALE, ...),
`X-Edge: <edge id>` and CORS headers exposing them and the range headers, so a browser player on
another site can play from the edge and see where bytes came from. `/health` is 200 while the
process serves; `/inventory.json` is the summary the fill agent writes (see INTERFACES.md).

Each request is one JSON line in the edge's access log (vodlake.delivery.logs ships them to
Kafka): `request_id` lets the ingest drop a line shipped twice.

Layout of one edge, under `<edges.state_dir>/<edge_id>/`: nginx.conf, nginx.pid, prefill/ (the
document root: prefill/videos/... and prefill/inventory.json), cache/, tmp/, logs/ (access.log,
error.log), fill/ (the fill agent's journal and temporary files).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vodlake.config import Config, EdgeConf
from vodlake.errors import VodlakeError
from vodlake.services.common import read_pid, stop_process

# The path shape an edge serves: /videos/<video id>/<name>[/<name>...]; names are what the
# packager writes (letters, digits, '_', '-', '.'), never starting with a dot.
VIDEO_PATH_BODY = r"/videos/[A-Za-z0-9][A-Za-z0-9_-]{0,63}(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}){1,4}"
VIDEO_PATH = f"^{VIDEO_PATH_BODY}$"
# Peers of a site fill from each other's prefill store only (never their cache or the origin).
PEER_PREFIX = "/prefill"
# Refused in the raw request line before anything else: traversal, encoded dots, slashes,
# backslashes and NULs (nginx would decode them; the origin might interpret them).
# (Written as it goes inside an nginx double-quoted string, where "\\\\" is one "\\".)
REFUSED_RAW = r"(\.\.|%2[eEfF]|%5[cC]|%00|\\\\)"
MIN_CACHE_BYTES = 1 << 20  # the pull-through cache keeps at least this much room
ACCESS_LOG_FLUSH_S = 1  # nginx holds log lines in a buffer up to this long
EXPOSED = "X-Cache, X-Edge, Content-Length, Content-Range, Accept-Ranges, ETag"
MIME_TYPES = {
    "application/vnd.apple.mpegurl": "m3u8",
    "application/dash+xml": "mpd",
    "video/iso.segment": "m4s",
    "video/mp4": "mp4",
    "video/mp2t": "ts",
    "application/json": "json",
    "text/plain": "txt",
}
# One JSON object per request; field names are what vodlake.schemas.EDGE_LOG_LINE parses.
LOG_FIELDS = {
    "request_id": "$request_id",
    "time": "$time_iso8601",
    "msec": "$msec",
    "edge": "{edge}",
    "client": "$remote_addr",
    "method": "$request_method",
    "path": "$uri",
    "status": "$status",
    "bytes": "$body_bytes_sent",
    "range": "$http_range",
    "cache": "$edge_cache",
    "request_time": "$request_time",
    "upstream_time": "$upstream_response_time",
    "upstream_header_time": "$upstream_header_time",
    "upstream_bytes": "$upstream_bytes_received",
    "upstream_status": "$upstream_status",
    "sid": "$arg_sid",
    "br": "$arg_br",
    "cmcd": "$arg_CMCD",
}


@dataclass(frozen=True)
class EdgeLayout:
    """Where one edge's files live and where it listens."""

    edge: EdgeConf
    root: Path
    host: str
    port: int

    @property
    def conf(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def pidfile(self) -> Path:
        return self.root / "nginx.pid"

    @property
    def prefill(self) -> Path:
        """The document root: prefill/videos/<id>/... and prefill/inventory.json."""
        return self.root / "prefill"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def access_log(self) -> Path:
        return self.logs / "access.log"

    @property
    def fill_dir(self) -> Path:
        return self.root / "fill"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def state_dir(cfg: Config) -> Path:
    return Path(cfg.edges.state_dir or os.path.join(cfg.services.state_dir, "edges"))


def find_edge(cfg: Config, edge_id: str) -> tuple[int, EdgeConf]:
    for i, edge in enumerate(cfg.topology.edges):
        if edge.id == edge_id:
            return i, edge
    known = ", ".join(e.id for e in cfg.topology.edges) or "none"
    raise VodlakeError(f"no edge '{edge_id}' in topology.edges", hint=f"known edges: {known}")


def edge_address(cfg: Config, edge_id: str) -> tuple[str, int]:
    """(host, port) of an edge: edge i (topology order) is <address_prefix>.<i+1>:<port>."""
    i, _ = find_edge(cfg, edge_id)
    if i + 1 > 254:
        raise VodlakeError("more than 254 edges do not fit one address prefix")
    return f"{cfg.edges.address_prefix}.{i + 1}", cfg.edges.port


def edge_base_url(cfg: Config, edge_id: str) -> str:
    host, port = edge_address(cfg, edge_id)
    return f"http://{host}:{port}"


def layout(cfg: Config, edge_id: str) -> EdgeLayout:
    _, edge = find_edge(cfg, edge_id)
    host, port = edge_address(cfg, edge_id)
    return EdgeLayout(edge, state_dir(cfg) / edge_id, host, port)


def layouts(cfg: Config, edge_ids: list[str] | None = None) -> list[EdgeLayout]:
    ids = edge_ids or [e.id for e in cfg.topology.edges]
    return [layout(cfg, e) for e in ids]


def origin_base_url(cfg: Config) -> str:
    """URL under which `<base>/videos/<id>/...` are the origin's files (anonymous HTTP)."""
    if cfg.edges.origin_url:
        return cfg.edges.origin_url.rstrip("/")
    from vodlake.lake import storage

    if hasattr(storage, "origin_base_url") and cfg.paths.origin.startswith("s3a://"):
        return str(storage.origin_base_url(cfg))
    raise VodlakeError(
        "the edges have no origin URL",
        hint="set edges.origin_url (the HTTP base whose /videos/... are the origin files)",
    )


def _upstream(origin: str) -> tuple[str, str]:
    """('host:port', '/base/path') of the origin URL; plain http only (loopback origin)."""
    url = urllib.parse.urlsplit(origin)
    if url.scheme != "http" or not url.hostname:
        raise VodlakeError(
            f"edges.origin_url must be http://host[:port][/path], got {origin!r}",
            hint="the edges reach the origin over plain HTTP",
        )
    return f"{url.hostname}:{url.port or 80}", url.path.rstrip("/")


def prefill_bytes(lay: EdgeLayout) -> int:
    """Bytes of files in the prefill store (what the cache must leave room for)."""
    root = lay.prefill / "videos"
    if not root.is_dir():
        return 0
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def cache_bytes(lay: EdgeLayout) -> int:
    if not lay.cache.is_dir():
        return 0
    return sum(p.stat().st_size for p in lay.cache.rglob("*") if p.is_file())


def cache_max_bytes(edge: EdgeConf, held: int) -> int:
    return max(edge.capacity_bytes - held, MIN_CACHE_BYTES)


def prefill_room(edge: EdgeConf) -> int:
    """Bytes the prefill store may hold: the capacity less the pull-through cache's floor.

    Why: the cache keeps at least MIN_CACHE_BYTES whatever the store holds, so a store filled
    to the whole capacity would make the edge hold capacity + floor, more than an edge that
    only pulls through; stopping the fill here keeps every edge at its capacity."""
    return max(0, edge.capacity_bytes - MIN_CACHE_BYTES)


# --- how nginx really bounds the cache (what a prediction of an edge must replay) -------------
# nginx's cache manager process trims the cache to max_size only when it wakes: at once when it
# starts (nginx start or reload), then, while the cache is below max_size, every 10 s (the wait
# is capped at 10 s in ngx_http_file_cache_expire; not configurable). Misses are stored at
# once, so between wakes the cache holds more than max_size. Sizes count whole file system
# blocks of each cache file, which holds a header (key, the origin's headers) before the body.
# Once per fresh cache zone, 60 s after nginx (re)started it, the cache loader walks the cache
# folder and re-adds every file it finds at the young end of the LRU queue, in directory order.
CACHE_MANAGER_PERIOD_S = 10.0
CACHE_LOADER_DELAY_S = 60.0


def cache_manager_started(lay: EdgeLayout) -> float | None:
    """Epoch seconds at which the running edge's cache manager process started (from /proc)."""
    return _child_started(lay, b"cache manager")


def cache_loader_started(lay: EdgeLayout) -> float | None:
    """Epoch seconds at which the edge's pending cache loader started, if one is waiting."""
    return _child_started(lay, b"cache loader")


def _child_started(lay: EdgeLayout, title: bytes) -> float | None:
    master = running_pid(lay)
    if master is None:
        return None
    # /proc/<pid>/stat counts clock ticks since boot (CLOCK_BOOTTIME); /proc/stat's btime is
    # whole seconds, too coarse against 10 s sweeps, so boot is taken from the two clocks
    boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    ticks = os.sysconf("SC_CLK_TCK")
    starts = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == master and title in cmd:
            starts.append(boot + int(stat[19]) / ticks)
    return max(starts) if starts else None


def cache_walk_ranks(lay: EdgeLayout, uris: list[str]) -> list[int]:
    """Rank of each cache key (`proxy_cache_key`, the URI) in the order the cache loader walks
    the cache folder: depth first, each folder in readdir order (levels=1:2 -> <c>/<cc>/<md5>).
    readdir order depends on names only here (ext4 hashes them), so the folders left at the end
    give the order the loader saw; a file no longer there sorts by name within its folder."""
    import hashlib

    def listing(path: Path) -> dict[str, int]:
        try:
            return {name: i for i, name in enumerate(os.listdir(path))}
        except OSError:
            return {}

    top = listing(lay.cache)
    subs: dict[str, dict[str, int]] = {}
    leaves: dict[tuple[str, str], dict[str, int]] = {}
    keys = []
    for uri in uris:
        md5 = hashlib.md5(uri.encode()).hexdigest()
        a, b = md5[-1], md5[-3:-1]
        sub = subs.setdefault(a, listing(lay.cache / a))
        leaf = leaves.setdefault((a, b), listing(lay.cache / a / b))
        far = 1 << 30
        keys.append((top.get(a, far), sub.get(b, far), leaf.get(md5, far), md5))
    order = sorted(range(len(uris)), key=keys.__getitem__)
    ranks = [0] * len(uris)
    for rank, i in enumerate(order):
        ranks[i] = rank
    return ranks


def cache_block_bytes(lay: EdgeLayout) -> int:
    """The file system block nginx counts cache sizes in (statvfs f_bsize of the cache dir)."""
    return os.statvfs(lay.cache if lay.cache.is_dir() else lay.root).f_bsize


def cache_header_bytes(lay: EdgeLayout) -> int:
    """Median bytes a cache file holds before its body (nginx's header, key, origin headers),
    measured on the files in the cache; 0 when it is empty."""
    sizes = []
    for path in lay.cache.rglob("*") if lay.cache.is_dir() else []:
        try:
            with path.open("rb") as fh:
                head = fh.read(4096)
            size = path.stat().st_size
        except OSError:  # a directory, or evicted meanwhile
            continue
        found = re.search(rb"\r\nContent-Length: *(\d+)\r\n", head, re.IGNORECASE)
        if found:
            sizes.append(size - int(found.group(1)))
    return sorted(sizes)[len(sizes) // 2] if sizes else 0


def cache_charge(body: int, header: int, block: int) -> int:
    """Bytes nginx counts against max_size for an object of `body` bytes (whole blocks)."""
    return -(-(body + header) // block) * block


def _headers(edge_id: str) -> list[str]:
    return [
        f'add_header X-Edge "{edge_id}" always;',
        "add_header X-Cache $edge_cache always;",
        'add_header Access-Control-Allow-Origin "*" always;',
        f'add_header Access-Control-Expose-Headers "{EXPOSED}" always;',
    ]


def _block(lines: list[str], indent: int) -> str:
    pad = " " * indent
    return "\n".join(pad + line if line else "" for line in lines)


def render(
    cfg: Config,
    lay: EdgeLayout,
    *,
    listen: str | None = None,
    user: str | None = None,
    held: int | None = None,
    daemon: bool = True,
    peers: tuple[str, ...] = ("127.0.0.0/8",),
) -> str:
    """The nginx.conf of one edge. `listen`/`user` override the local defaults (a real host);
    `peers` are the networks whose edges may fill from this one's prefill store."""
    edge = lay.edge
    host_port, base_path = _upstream(origin_base_url(cfg))
    held = prefill_bytes(lay) if held is None else held
    max_size = cache_max_bytes(edge, held)
    zone = "edge_" + "".join(c if c.isalnum() else "_" for c in edge.id)
    log_json = ",".join(f'"{k}":"{v.format(edge=edge.id)}"' for k, v in LOG_FIELDS.items())
    types = " ".join(f"{mime} {ext};" for mime, ext in MIME_TYPES.items())
    tmp = lay.root / "tmp"
    headers = _headers(edge.id)
    lines = [
        f"# vodlake edge {edge.id} ({edge.region}/{edge.isp}), generated by vodlake.delivery.edges",
        f"# prefill held {held} B of capacity {edge.capacity_bytes} B -> pull-through cache "
        f"max_size {max_size} B",
        *([f"user {user};"] if user else []),
        f"worker_processes {cfg.edges.worker_processes};",
        f"daemon {'on' if daemon else 'off'};",
        f"pid {lay.pidfile};",
        f"error_log {lay.logs / 'error.log'} warn;",
        "events { worker_connections 2048; }",
        "http {",
        f"    types {{ {types} }}",
        "    default_type application/octet-stream;",
        "    sendfile on;",
        "    tcp_nopush on;",
        "    keepalive_requests 100000;",
        "    server_tokens off;",
        f"    client_body_temp_path {tmp}/body;",
        f"    proxy_temp_path {tmp}/proxy;",
        f"    fastcgi_temp_path {tmp}/fastcgi;",
        f"    uwsgi_temp_path {tmp}/uwsgi;",
        f"    scgi_temp_path {tmp}/scgi;",
        f"    log_format vodlake_edge escape=json '{{{log_json}}}';",
        f"    access_log {lay.access_log} vodlake_edge buffer=32k flush={ACCESS_LOG_FLUSH_S}s;",
        f"    proxy_cache_path {lay.cache} levels=1:2 keys_zone={zone}:8m max_size={max_size}"
        f" inactive={cfg.edges.cache_inactive_s}s use_temp_path=off;",
        f"    upstream vodlake_origin {{ server {host_port}; keepalive 16; }}",
        "    # X-Cache: the cache status of an origin-backed answer, else what the location set",
        "    map $upstream_cache_status $edge_cache {",
        "        volatile;",
        '        "" $edge_local;',
        "        default $upstream_cache_status;",
        "    }",
        "    server {",
        f"        listen {listen or f'{lay.host}:{lay.port}'};",
        "        server_name _;",
        f"        root {lay.prefill};",
        "        set $edge_local NONE;",
        _block(headers, 8),
        '        add_header Access-Control-Allow-Methods "GET, HEAD, OPTIONS" always;',
        '        add_header Access-Control-Allow-Headers "Range" always;',
        f'        if ($request_uri ~ "{REFUSED_RAW}") {{ return 400; }}',
        "        if ($request_method !~ ^(GET|HEAD|OPTIONS)$) { return 405; }",
        "        if ($request_method = OPTIONS) { return 204; }",
        "        location = /health {",
        "            access_log off;",
        _block(headers, 12),
        '            add_header Cache-Control "no-store" always;',
        '            return 200 "ok\\n";',
        "        }",
        "        location = /inventory.json {",
        _block(headers, 12),
        '            add_header Cache-Control "no-cache" always;',
        "            try_files /inventory.json =404;",
        "        }",
        f'        location ~ "{VIDEO_PATH}" {{',
        "            set $edge_local PREFILL;",
        _block(headers, 12),
        "            try_files $uri @origin;",
        "        }",
        "        # peer fill: another edge of the site reads the prefill store, nothing else",
        f'        location ~ "^{PEER_PREFIX}(?<held>{VIDEO_PATH_BODY})$" {{',
        "            access_log off;",
        *[f"            allow {net};" for net in peers],
        "            deny all;",
        "            set $edge_local PREFILL;",
        _block(headers, 12),
        "            try_files $held =404;",
        "        }",
        "        location @origin {",
        _block(headers, 12),
        f"            proxy_pass http://vodlake_origin{base_path}$uri;",
        "            proxy_http_version 1.1;",
        '            proxy_set_header Connection "";',
        f"            proxy_set_header Host {host_port};",
        "            proxy_hide_header Access-Control-Allow-Origin;",
        "            proxy_hide_header Access-Control-Expose-Headers;",
        f"            proxy_cache {zone};",
        "            proxy_cache_key $uri;",
        f"            proxy_cache_valid 200 {cfg.edges.ttl_s}s;",
        "            proxy_ignore_headers Cache-Control Expires Set-Cookie X-Accel-Expires Vary;",
        "            proxy_cache_revalidate on;",
        "            proxy_force_ranges on;",
        "            proxy_cache_lock on;",
        "            proxy_cache_lock_timeout 30s;",
        "            proxy_cache_lock_age 30s;",
        "            proxy_cache_use_stale error timeout http_500 http_502 http_503 http_504;",
        "            proxy_connect_timeout 5s;",
        "            proxy_read_timeout 30s;",
        "        }",
        "        location / {",
        _block(headers, 12),
        "            return 404;",
        "        }",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


# --- process control --------------------------------------------------------------------------


def find_nginx() -> str:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if not nginx:
        raise VodlakeError(
            "nginx is not installed", hint="run `vodlake setup` (or apt-get install -y nginx)"
        )
    return nginx


def _local_user() -> str | None:
    """Workers run as the user that owns the state dir: as root that is root (the default
    `nobody` could not read a prefill store under a private folder)."""
    return "root" if os.geteuid() == 0 else None


def write_config(cfg: Config, lay: EdgeLayout) -> str:
    for sub in (lay.prefill / "videos", lay.cache, lay.logs, lay.root / "tmp", lay.fill_dir):
        sub.mkdir(parents=True, exist_ok=True)
    text = render(cfg, lay, user=_local_user())
    tmp = lay.conf.with_suffix(".conf.tmp")
    tmp.write_text(text)
    check = subprocess.run(
        [
            find_nginx(),
            "-t",
            "-q",
            "-p",
            str(lay.root),
            "-e",
            str(lay.logs / "error.log"),
            "-c",
            str(tmp),
        ],
        capture_output=True,
        text=True,
    )
    if check.returncode != 0:
        raise VodlakeError(
            f"nginx refused the config of edge {lay.edge.id}: {check.stderr.strip()[-300:]}",
            hint=f"see {tmp}",
        )
    os.replace(tmp, lay.conf)
    return text


def running_pid(lay: EdgeLayout) -> int | None:
    """The edge's nginx master pid, if that process is alive and is this edge's nginx."""
    pid = read_pid(lay.pidfile)
    if pid is None:
        return None
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    return pid if str(lay.conf) in cmd else None


def health(lay: EdgeLayout, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(lay.base_url + "/health", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start(cfg: Config, lay: EdgeLayout, timeout: float = 15.0) -> bool:
    """Start the edge unless it runs (then reload its config); True when this call started it."""
    write_config(cfg, lay)
    if running_pid(lay) is not None:
        reload(lay)
        return False
    proc = subprocess.run(
        [find_nginx(), "-p", str(lay.root), "-e", str(lay.logs / "error.log"), "-c", str(lay.conf)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise VodlakeError(
            f"nginx for edge {lay.edge.id} did not start: {proc.stderr.strip()[-300:]}",
            hint=f"is {lay.host}:{lay.port} taken? see {lay.logs / 'error.log'}",
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if health(lay, 1.0):
            return True
        time.sleep(0.1)
    raise VodlakeError(
        f"edge {lay.edge.id} did not answer /health on {lay.base_url} within {timeout:.0f}s",
        hint=f"see {lay.logs / 'error.log'}",
    )


def reload(lay: EdgeLayout) -> None:
    """Apply a rewritten nginx.conf (new max_size after a fill) without dropping connections."""
    pid = running_pid(lay)
    if pid is None:
        return
    proc = subprocess.run(
        [
            find_nginx(),
            "-p",
            str(lay.root),
            "-e",
            str(lay.logs / "error.log"),
            "-c",
            str(lay.conf),
            "-s",
            "reload",
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise VodlakeError(
            f"nginx reload of edge {lay.edge.id} failed: {proc.stderr.strip()[-300:]}",
            hint=f"see {lay.logs / 'error.log'}",
        )


def stop(lay: EdgeLayout, timeout: float = 10.0) -> bool:
    """Stop the edge's nginx (master and workers: one process group); True when it ran."""
    pid = running_pid(lay)
    if pid is None:
        lay.pidfile.unlink(missing_ok=True)
        return False
    stop_process(lay.pidfile, str(lay.conf), timeout=timeout)
    # the daemonized master's parent is init: wait until it is reaped, so no <defunct> stays
    deadline = time.monotonic() + 5.0
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def refresh(cfg: Config, lay: EdgeLayout) -> None:
    """Rewrite the config from the prefill store now held, and reload when running."""
    write_config(cfg, lay)
    reload(lay)


@dataclass(frozen=True)
class EdgeStatus:
    edge_id: str
    address: str
    pid: int | None
    healthy: bool
    prefill_bytes: int
    cache_bytes: int
    capacity_bytes: int

    @property
    def running(self) -> bool:
        return self.pid is not None


def status(lay: EdgeLayout) -> EdgeStatus:
    pid = running_pid(lay)
    return EdgeStatus(
        edge_id=lay.edge.id,
        address=f"{lay.host}:{lay.port}",
        pid=pid,
        healthy=pid is not None and health(lay),
        prefill_bytes=prefill_bytes(lay),
        cache_bytes=cache_bytes(lay),
        capacity_bytes=lay.edge.capacity_bytes,
    )


def up(
    cfg: Config, edge_ids: list[str] | None = None, log: Callable[[str], None] = print
) -> list[str]:
    """Start every (or the named) edge; idempotent. Returns the ids this call started."""
    started = []
    for lay in layouts(cfg, edge_ids):
        if start(cfg, lay):
            started.append(lay.edge.id)
            log(f"  {lay.edge.id}: started on {lay.base_url}")
    return started


def down(cfg: Config, edge_ids: list[str] | None = None) -> list[str]:
    """Stop every (or the named) edge; idempotent. Returns the ids that were running."""
    return [lay.edge.id for lay in layouts(cfg, edge_ids) if stop(lay)]


def all_status(cfg: Config, edge_ids: list[str] | None = None) -> list[EdgeStatus]:
    return [status(lay) for lay in layouts(cfg, edge_ids)]
