"""`vodlake web`: a small site to find a title and watch it through an edge.

The page searches Elasticsearch (vodlake.search.index, through this server), lists the catalog
with thumbnails, and its player asks the steering service itself (so steering ranks by the
browser's own address) and plays the first URL with hls.js. hls.js is the npm package pinned in
vodlake/versions.py, fetched once with `npm pack` into services.cache_dir and served from here:
nothing comes from a CDN. Thumbnails are cut with ffmpeg from each title's first segment,
fetched through steering's first URL like any player would, and kept in memory.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vodlake import versions
from vodlake.config import Config
from vodlake.errors import VodlakeError

STATIC = Path(__file__).resolve().parent / "static"


def hlsjs_path(cfg: Config) -> Path:
    return Path(cfg.services.cache_dir) / "web" / f"hls.js-{versions.HLSJS_VERSION}" / "hls.min.js"


def ensure_hlsjs(cfg: Config) -> Path:
    """The pinned hls.js dist file, fetched from the npm registry with `npm pack` once."""
    target = hlsjs_path(cfg)
    if target.exists():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise VodlakeError("npm is not installed", hint="apt-get install -y npm (vodlake setup)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        spec = f"hls.js@{versions.HLSJS_VERSION}"
        proc = subprocess.run(
            [npm, "pack", spec, "--silent", "--pack-destination", tmp],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise VodlakeError(
                f"npm pack {spec} failed: {proc.stderr.strip()[-200:]}",
                hint="check that the npm registry is reachable",
            )
        tgz = next(Path(tmp).glob("hls.js-*.tgz"))
        with tarfile.open(tgz) as tar:
            member = tar.extractfile("package/dist/hls.min.js")
            if member is None:
                raise VodlakeError(f"{tgz.name} has no dist/hls.min.js")
            part = target.with_suffix(".part")
            part.write_bytes(member.read())
            part.replace(target)
    return target


async def _fetch(http: Any, url: str) -> bytes:
    async with http.get(url) as resp:
        if resp.status != 200:
            raise VodlakeError(f"{url} answered {resp.status}")
        return await resp.read()


async def thumbnail(http: Any, steering_url: str, video_id: str) -> bytes:
    """A JPEG of the first frame of the lowest rendition (init + first segment into ffmpeg)."""
    from vodlake.delivery.players import parse_master, parse_media

    doc = json.loads(await _fetch(http, f"{steering_url}/v1/steer?video_id={quote(video_id)}"))
    master = doc["hls_url"]
    variants = parse_master((await _fetch(http, master)).decode(), master)
    low = variants[0]
    parse_media((await _fetch(http, low.url)).decode(), low)
    data = (await _fetch(http, low.init_url) if low.init_url else b"") + await _fetch(
        http, low.segments[0][0]
    )
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-v", "error", "-i", "pipe:0", "-frames:v", "1",
        "-vf", "scale=320:-2", "-f", "image2", "-c:v", "mjpeg", "pipe:1",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate(data)
    if proc.returncode != 0 or not out:
        raise VodlakeError(f"no thumbnail for {video_id}: {err.decode()[-200:]}")
    return out


def make_app(cfg: Config, steering_url: str | None = None) -> Any:
    """Pages: / (search + catalog), /watch/<id> (player); JSON: /api/search, /api/catalog."""
    import aiohttp
    from aiohttp import web

    steer = (steering_url or f"http://{cfg.steering.host}:{cfg.steering.port}").rstrip("/")
    hls = ensure_hlsjs(cfg)
    thumbs: dict[str, bytes] = {}
    page_cfg = json.dumps({"steering": steer})

    def page(name: str) -> web.Response:
        text = (STATIC / name).read_text().replace("__CONFIG__", page_cfg)
        return web.Response(text=text, content_type="text/html")

    async def index(request: web.Request) -> web.Response:
        return page("index.html")

    async def watch(request: web.Request) -> web.Response:
        return page("watch.html")

    async def search(request: web.Request) -> web.Response:
        from vodlake.search import index as es_index

        text = request.query.get("q", "")
        if len(text) > 200:
            return web.json_response({"error": "query too long"}, status=400)

        def run() -> list[dict[str, Any]]:
            return es_index.search_videos(es_index.client(cfg), cfg, text, limit=24)

        try:
            hits = await asyncio.get_running_loop().run_in_executor(None, run)
        except VodlakeError as exc:
            return web.json_response({"error": exc.message, "hint": exc.hint}, status=503)
        return web.json_response(hits)

    async def catalog(request: web.Request) -> web.Response:
        try:
            doc = json.loads(await _fetch(request.app["http"], f"{steer}/v1/catalog"))
        except (aiohttp.ClientError, VodlakeError, OSError) as exc:
            return web.json_response({"error": f"steering: {exc}"}, status=503)
        return web.json_response(doc)

    async def thumb(request: web.Request) -> web.Response:
        vid = request.match_info["video_id"]
        if vid not in thumbs:
            try:
                thumbs[vid] = await thumbnail(request.app["http"], steer, vid)
            except (aiohttp.ClientError, VodlakeError, OSError, KeyError, ValueError):
                raise web.HTTPNotFound() from None
        return web.Response(body=thumbs[vid], content_type="image/jpeg")

    async def hlsjs(request: web.Request) -> web.FileResponse:
        return web.FileResponse(hls)

    async def on_startup(app: web.Application) -> None:
        app["http"] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def on_cleanup(app: web.Application) -> None:
        await app["http"].close()

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get(r"/watch/{video_id:[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}}", watch)
    app.router.add_get("/api/search", search)
    app.router.add_get("/api/catalog", catalog)
    app.router.add_get(r"/thumb/{video_id:[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}}.jpg", thumb)
    app.router.add_get("/static/hls.min.js", hlsjs)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def serve(cfg: Config, steering_url: str | None = None) -> None:
    from aiohttp import web

    app = make_app(cfg, steering_url)
    print(f"vodlake web on http://{cfg.web.host}:{cfg.web.port}", flush=True)
    web.run_app(app, host=cfg.web.host, port=cfg.web.port, access_log=None, print=None)
