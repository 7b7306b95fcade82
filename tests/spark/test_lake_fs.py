"""Hadoop FS helpers: `replace_folder` keeps the previous folder until the new one is in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from vodlake.lake import fs


def _folder(path: Path) -> dict[str, bytes]:
    """The folder's files (without the .crc checksum files Hadoop's local FileSystem adds)."""
    if not path.exists():
        return {}
    return {p.name: p.read_bytes() for p in path.iterdir() if not p.name.endswith(".crc")}


def test_replace_folder_holds_exactly_the_new_files(spark, tmp_path: Path) -> None:
    target = tmp_path / "manifests"
    fs.replace_folder(spark, str(target), {"a.txt": b"1", "b.txt": b"2"})
    uris = fs.replace_folder(spark, str(target), {"c.txt": b"3"})
    assert uris == [f"{target}/c.txt"]
    assert _folder(target) == {"c.txt": b"3"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifests"]  # no sibling left


def test_a_failed_write_leaves_the_previous_folder(spark, tmp_path, monkeypatch) -> None:
    target = tmp_path / "manifests"
    fs.replace_folder(spark, str(target), {"old.txt": b"old"})
    real = fs.write_bytes

    def fail_on_second(spark_, uri: str, data: bytes) -> None:
        if uri.endswith("two.txt"):
            raise OSError("disk full")
        real(spark_, uri, data)

    monkeypatch.setattr(fs, "write_bytes", fail_on_second)
    with pytest.raises(OSError, match="disk full"):
        fs.replace_folder(spark, str(target), {"one.txt": b"1", "two.txt": b"2"})
    assert _folder(target) == {"old.txt": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifests"]


def test_a_failed_swap_moves_the_previous_folder_back(spark, tmp_path, monkeypatch) -> None:
    target = tmp_path / "manifests"
    fs.replace_folder(spark, str(target), {"old.txt": b"old"})
    real = fs._rename

    def fail_moving_in(spark_, src: str, dst: str) -> None:
        if ".tmp-" in src:
            raise OSError(f"could not move {src} to {dst}")
        real(spark_, src, dst)

    monkeypatch.setattr(fs, "_rename", fail_moving_in)
    with pytest.raises(OSError, match="could not move"):
        fs.replace_folder(spark, str(target), {"new.txt": b"new"})
    assert _folder(target) == {"old.txt": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifests"]
