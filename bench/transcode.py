"""Benchmark the chunked Spark transcode against one plain ffmpeg process, in the same run.

Run: ``python bench/transcode.py [--duration 20 --height 720] [--portrait]`` (issue 15 states
its goal for ``--duration 60 --height 1080``, landscape and ``--portrait``, on 2 cores:
wall-time ratio to one plain ffmpeg process <= 1.05, and the PSNR/SSIM gap).

Both sides make the same deliverable from the same source and ladder (conf, capped at the
source) with the same rate control (EncodeSettings.from_config: capped CRF, preset, GOP,
keyframes forced at segment boundaries):
- vodlake: probe + plan + encode units with mapPartitions + package + publish to origin, on a
  local Spark session (`vodlake.catalog.stream.transcode_videos`, the code the stream runs;
  Kafka and the Delta catalog writes are not part of it), one encoder thread per unit;
- baseline: what a user would run instead: the whole file in ONE ffmpeg process with ffmpeg's
  default (auto) threading (vodlake.media.encode_chunk with a single whole-file chunk and
  threads 0, so every other ffmpeg setting is identical by construction), the audio once,
  then the same packager. `--same-settings` also times that process with vodlake's own
  threads (1 per encoder), which isolates what chunking itself costs.
`--portrait` makes a phone-like source: the picture stored landscape and tagged with a 90
degree rotation, displayed 9:16 (for 1080: stored 1920x1080, shown 1080x1920).
Quality is PSNR and SSIM of every rendition against the source scaled to the rendition's size
(same scaler both sides), over the whole clip and over the 25 frames after each chunk boundary,
where chunking can cost quality. Bytes are the packaged segments plus init segments.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import ffmpeg

from vodlake.config import load_config
from vodlake.lake.storage import parse_uri
from vodlake.media import Chunk, EncodeSettings, encode_audio, encode_chunk, inspect, ladder_for
from vodlake.media import package as package_video
from vodlake.media.samples import make_sample

BOUNDARY_FRAMES = 25


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def quality(dist: Path, source: Path, width: int, height: int, stats: Path) -> dict[str, Any]:
    """PSNR/SSIM of `dist` (a playlist or file) against `source` scaled to width x height."""
    d = ffmpeg.input(str(dist), protocol_whitelist="file").video
    d = d.filter("setpts", "PTS-STARTPTS").filter("setsar", 1).split()
    r = ffmpeg.input(str(source), protocol_whitelist="file").video
    r = r.filter("scale", width, height).filter("setpts", "PTS-STARTPTS").filter("setsar", 1)
    r = r.split()
    psnr = ffmpeg.filter([d[0], r[0]], "psnr", stats_file=str(stats))
    ssim = ffmpeg.filter([d[1], r[1]], "ssim")
    cmd = ffmpeg.output(psnr, ssim, "-", f="null").compile()
    cmd = [cmd[0], "-nostdin", "-hide_banner", "-v", "info", *cmd[1:]]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"quality measurement failed: {proc.stderr[-2000:]}")
    psnr_avg = float(re.search(r"PSNR .*average:([\d.]+|inf)", proc.stderr).group(1))
    ssim_all = float(re.search(r"SSIM .*All:([\d.]+)", proc.stderr).group(1))
    per_frame = [
        float(m.group(1))
        for m in re.finditer(r"psnr_avg:([\d.]+|inf)", stats.read_text())
        if m.group(1) != "inf"
    ]
    return {"psnr": psnr_avg, "ssim": ssim_all, "frames": per_frame}


def boundary_psnr(per_frame: list[float], boundaries: list[int]) -> float:
    """Mean per-frame PSNR over the frames right after each chunk boundary."""
    picked = [
        per_frame[i] for b in boundaries for i in range(b, min(b + BOUNDARY_FRAMES, len(per_frame)))
    ]
    return statistics.fmean(picked) if picked else float("nan")


def run_vodlake(cfg, spark, source: Path) -> dict[str, Any]:
    from vodlake.catalog import transcode as tc
    from vodlake.catalog.stream import Phases, task_attempts, transcode_videos
    from vodlake.catalog.uploads import store_source, video_id_for

    spec = tc.TranscodeSpec.from_config(cfg, max_attempts=task_attempts(spark))
    uri, digest, _ = store_source(cfg, source, spec.storage)
    vid = video_id_for(digest)
    phases = Phases()
    t0 = time.perf_counter()
    outcomes = transcode_videos(spark, spec, [{"video_id": vid, "seq": 1, "source_uri": uri}],
                                log=lambda m: None, phases=phases)  # fmt: skip
    wall = time.perf_counter() - t0
    out = outcomes[vid]
    if out.status != "ready":
        raise RuntimeError(f"vodlake transcode failed: {out.reason}")
    rends = {r["rendition"]: r for r in json.loads(out.package["renditions"])}
    units = sorted(u["unit_idx"] for u in out.units if u["unit_idx"] >= 0)
    frames = {u["unit_idx"]: u["frames"] for u in out.units if u["unit_idx"] >= 0}
    starts, acc = [], 0
    for i in units:
        starts.append(acc)
        acc += frames[i]
    tc.cleanup_work(spec, vid, 1)
    return {"wall": wall, "phases": dict(phases), "renditions": rends, "boundaries": starts[1:]}


def run_baseline(cfg, source: Path, work: Path, threads: int | None = 0) -> dict[str, Any]:
    """`threads=0`: let ffmpeg/x264 pick (auto), as a user would; None: the configured."""
    t = cfg.transcode
    settings = EncodeSettings.from_config(t)
    if threads is not None:
        settings = dataclasses.replace(settings, threads=threads)
    info = inspect(source, t.limits)
    rungs = ladder_for(info.width, info.height, t.ladder)
    total = round(info.duration_s * info.fps)
    whole = Chunk(0, 0.0, total / info.fps, 0, 0, start_frame=0, frames=total)
    t0 = time.perf_counter()
    outs = encode_chunk(source, whole, rungs, settings, work / "enc", info=info)
    t_video = time.perf_counter() - t0
    audio = encode_audio(source, work / "audio.mp4", t.audio_bitrate_kbps, info.duration_s, info)
    t_encode = time.perf_counter() - t0
    files = {o.rung_name: [o.path] for o in outs}
    result = package_video("baseline", files, audio, rungs, settings.segment_seconds, work / "pkg")
    wall = time.perf_counter() - t0
    rends = {}
    for r in result.renditions:
        segs = result.segments_of(r.name)
        init = next(i for i in result.init_segments if i.rendition == r.name)
        rends[r.name] = {
            "width": r.width,
            "height": r.height,
            "bytes": sum(s.bytes for s in segs) + init.bytes,
            "playlist": str(Path(result.out_dir) / r.playlist),
        }
    return {"wall": wall, "encode": t_encode, "video": t_video, "renditions": rends}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="source seconds")
    parser.add_argument("--height", type=int, default=720, help="source height (16:9)")
    parser.add_argument(
        "--portrait",
        action="store_true",
        help="phone-like source: stored landscape, rotated 90 degrees, displayed 9:16",
    )
    parser.add_argument("--fps", default="25")
    parser.add_argument("--source", default="testsrc2", help="lavfi source for the sample")
    parser.add_argument("--noise", type=int, default=6, help="temporal grain 0-100")
    parser.add_argument("--master", default="local[2]", help="Spark master for vodlake")
    parser.add_argument("--preset", default=None, help="override transcode.preset")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side (best is kept)")
    parser.add_argument(
        "--same-settings",
        action="store_true",
        help="also time one ffmpeg process with vodlake's exact settings (1 thread/encoder)",
    )
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="vodlake-bench-transcode-"))
    width = 2 * round(args.height * 16 / 9 / 2)
    env = os.environ.get("VODLAKE_ENV", "local")
    default = load_config(env)
    overrides: dict[str, Any] = {
        # its own origin in the work folder: the benchmark times transcoding, never writes to
        # a configured (production) origin bucket, and needs no object store running
        "paths": {"home": str(work / "home"), "origin": str(work / "origin")},
        # data goes to the temp home; the jar cache stays where `vodlake setup` filled it
        "services": {
            "cache_dir": default.services.cache_dir,
            "state_dir": default.services.state_dir,
        },
    }
    if args.preset:
        overrides["transcode"] = {"preset": args.preset}
    cfg = load_config(env, overrides=overrides)
    t = cfg.transcode
    try:
        shown = (args.height, width) if args.portrait else (width, args.height)
        kind = "phone-like (stored landscape, rotation 90)" if args.portrait else "landscape"
        print(f"making a {args.duration:g} s {shown[0]}x{shown[1]} {kind} source ({args.source})")
        source = make_sample(
            work / "source.mp4", args.duration, *shown, args.fps, args.source,
            noise=args.noise, crf=14, rotate=90 if args.portrait else 0,
        )  # fmt: skip
        info = inspect(source, t.limits)
        rungs = ladder_for(info.width, info.height, t.ladder)
        print(
            f"ladder {[r.name for r in rungs]}, {t.codec} crf {t.crf} preset {t.preset}, "
            f"segments {t.segment_seconds:g} s, {t.segments_per_chunk} per unit, "
            f"threads/unit {t.threads_per_unit}; load avg {load()}"
        )
        from vodlake.lake.session import get_spark

        spark = get_spark(cfg, app_name="vodlake-bench-transcode", master=args.master)
        # warm up what the first batch of a long-running stream has paid for already:
        # Python workers and the SQL engine
        spark.sparkContext.parallelize(range(4), 2).map(lambda x: x).collect()
        spark.createDataFrame([(1, "a")], "n int, s string").selectExpr(
            "explode(array(n))"
        ).collect()

        # Sides alternate and each keeps its best run: other work on a shared machine only
        # ever slows a run down, so the minimum is the least disturbed figure.
        base = same = mine = None
        for i in range(1, args.repeat + 1):
            b = run_baseline(cfg, source, work / f"baseline-{i}")
            print(
                f"[{i}] baseline (one plain ffmpeg, threads auto): {b['wall']:.1f} s; load {load()}"
            )
            base = b if base is None or b["wall"] < base["wall"] else base
            if args.same_settings:
                a = run_baseline(cfg, source, work / f"baseline-same-{i}", threads=None)
                print(
                    f"[{i}] baseline (one ffmpeg, vodlake's settings, 1 thread per encoder): "
                    f"{a['wall']:.1f} s; load {load()}"
                )
                same = a if same is None or a["wall"] < same["wall"] else same
            m = run_vodlake(cfg, spark, source)
            phases = ", ".join(f"{k} {v:.1f}s" for k, v in m["phases"].items())
            print(
                f"[{i}] vodlake (Spark {args.master}): {m['wall']:.1f} s ({phases}); load {load()}"
            )
            mine = m if mine is None or m["wall"] < mine["wall"] else mine
        assert base is not None and mine is not None

        rows = []
        for r in rungs:
            v, b = mine["renditions"][r.name], base["renditions"][r.name]
            w, h = v["width"], v["height"]
            qv = quality(parse_uri(v["playlist_uri"]).path, source, w, h, work / f"v-{r.name}.log")
            qb = quality(Path(b["playlist"]), source, w, h, work / f"b-{r.name}.log")
            rows.append(
                (
                    r.name, f"{w}x{h}",
                    qv["psnr"], qb["psnr"],
                    boundary_psnr(qv["frames"], mine["boundaries"]),
                    boundary_psnr(qb["frames"], mine["boundaries"]),
                    qv["ssim"], qb["ssim"], v["bytes"], b["bytes"],
                )
            )  # fmt: skip
        print()
        head = (
            f"{'rendition':<9} {'size':>9} {'PSNR v':>7} {'PSNR b':>7} {'dPSNR':>6} "
            f"{'bPSNR v':>8} {'bPSNR b':>8} {'SSIM v':>7} {'SSIM b':>7} "
            f"{'bytes v':>10} {'bytes b':>10} {'bytes v/b':>9}"
        )
        print(head)
        for name, size, pv, pb, bv, bb, sv, sb, yv, yb in rows:
            print(
                f"{name:<9} {size:>9} {pv:7.2f} {pb:7.2f} {pv - pb:+6.2f} {bv:8.2f} {bb:8.2f} "
                f"{sv:7.4f} {sb:7.4f} {yv:10d} {yb:10d} {yv / yb:9.3f}"
            )
        ratio = mine["wall"] / base["wall"]
        enc = mine["phases"].get("encode", float("nan"))
        worst = max(abs(r[2] - r[3]) for r in rows)
        worst_boundary = max(abs(r[4] - r[5]) for r in rows)
        byte_ratio = sum(r[8] for r in rows) / sum(r[9] for r in rows)
        print()
        print(
            f"wall time   vodlake {mine['wall']:.1f} s / one plain ffmpeg (auto threads) "
            f"{base['wall']:.1f} s = {ratio:.2f}x (goal <= 1.05); load avg {load()}"
        )
        if same is not None:
            print(
                f"            vodlake / one ffmpeg with vodlake's settings {same['wall']:.1f} s "
                f"= {mine['wall'] / same['wall']:.2f}x"
            )
        print(
            f"encode only vodlake units {enc:.1f} s / baseline video+audio "
            f"{base['encode']:.1f} s = {enc / base['encode']:.2f}x"
        )
        worst_ssim = max(abs(r[6] - r[7]) for r in rows)
        print(
            f"PSNR        largest |vodlake - baseline| {worst:.3f} dB (goal <= 0.2 dB); "
            f"after chunk boundaries {worst_boundary:.3f} dB"
        )
        print(f"SSIM        largest |vodlake - baseline| {worst_ssim:.4f}")
        print(f"bytes       vodlake / baseline {byte_ratio:.3f}")
        print(
            f"units       {len(mine['boundaries']) + 1} video units, boundaries at frames "
            f"{mine['boundaries']}"
        )
        spark.stop()
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
