"""The Unity package as the Package Manager reads it: its manifest, a ``.meta`` file for every
asset, the Default Band sample it declares, and the C# generated from the protocol being fresh."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from metalosc.protocol import _csharp
from metalosc.training import _unity_meta

PACKAGE = _unity_meta.PACKAGE_ROOT
REPO = PACKAGE.parents[2]


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return dict(json.loads((PACKAGE / "package.json").read_text(encoding="utf-8")))


def test_package_json_validates(manifest: dict[str, Any]) -> None:
    # The Package Manager's rules: a reverse-domain lowercase name, a SemVer version, a Unity
    # "major.minor" it supports (optionally unityRelease), dependencies by SemVer.
    assert re.fullmatch(r"[a-z0-9-_]+(\.[a-z0-9-_]+){2,}", manifest["name"])
    assert len(manifest["name"]) <= 214
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", manifest["version"])
    assert re.fullmatch(r"20\d\d\.[1-4]", manifest["unity"])
    assert manifest["displayName"]
    assert manifest["description"]
    for name, version in manifest.get("dependencies", {}).items():
        assert re.fullmatch(r"[a-z0-9-_.]+", name)
        assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    # The C# is written for the language level of the Unity version it declares (the Mono suite's
    # mcs -langversion:7.2 is what Unity 2019.4 compiles).
    assert tuple(map(int, manifest["unity"].split("."))) >= (2019, 4)


def test_declared_samples_exist_and_the_readme_explains_both_installs(
    manifest: dict[str, Any],
) -> None:
    [sample] = manifest["samples"]
    folder = PACKAGE / sample["path"]
    assert sample["path"].startswith("Samples~/")
    assert folder.is_dir()
    assert sample["displayName"]
    assert sample["description"]
    assert list(folder.rglob("*.ogg"))
    assert list(folder.rglob("NOTICE.md"))
    readme = (PACKAGE / "README.md").read_text(encoding="utf-8")
    assert "Add package from git URL" in readme
    assert "?path=unity/Assets/MetalOSC" in readme
    assert manifest["name"] in readme


def test_every_asset_and_folder_has_its_meta_file() -> None:
    problems = _unity_meta.check(PACKAGE)
    assert not problems, f"{problems}; run {_unity_meta.REGENERATE}"
    metas = list(PACKAGE.rglob("*.meta"))
    guids = [re.search(r"^guid: ([0-9a-f]{32})$", m.read_text(), re.M) for m in metas]
    assert all(guids)
    assert len({g.group(1) for g in guids if g}) == len(metas), "GUIDs are unique"
    for asset in _unity_meta.assets(PACKAGE):
        assert Path(f"{asset}.meta").is_file(), asset


def test_generated_csharp_is_fresh() -> None:
    stale = _csharp.stale_files()
    assert not stale, f"{[p.name for p in stale]} stale: run {_csharp.REGENERATE}"


def test_a_stale_generated_file_is_caught(tmp_path: Path) -> None:
    for path, text in _csharp.render_files(tmp_path).items():
        path.write_text(text, encoding="utf-8")
    assert _csharp.stale_files(tmp_path) == []
    addresses = tmp_path / "MetalAddresses.cs"
    addresses.write_text(addresses.read_text().replace('"/metal/key"', '"/metal/keys"'))
    (tmp_path / "MetalRanges.cs").unlink()
    assert sorted(p.name for p in _csharp.stale_files(tmp_path)) == [
        "MetalAddresses.cs",
        "MetalRanges.cs",
    ]
    assert _csharp.main(["--check", "--core-dir", str(tmp_path)]) == 1
    assert sorted(p.name for p in _csharp.write(tmp_path)) == [
        "MetalAddresses.cs",
        "MetalRanges.cs",
    ]
    assert _csharp.stale_files(tmp_path) == []
