"""The Unity package's ``.meta`` files: one per asset and folder, with GUIDs derived from paths.

Unity identifies every asset by the GUID in its ``.meta`` file. A package added from git is
immutable, so Unity cannot write them there: the package must ship one for every file and folder
it imports (everything except names starting with ``.`` and ``~``-suffixed folders, which Unity
ignores; the contents of ``Samples~`` get them too, because importing a sample copies them into
the project, where stable GUIDs keep references to its clips valid across re-imports).

A GUID is the UUID5 of the package name and the asset's path inside the package, so
regenerating gives the same GUIDs, a moved file gets a new one, and two files never share one.
The importer section is what Unity writes for the file type (audio: the settings one-shot
samples want, see :data:`AUDIO_IMPORTER`).

``python -m metalosc.training._unity_meta --write`` writes missing and changed ``.meta`` files
and removes orphans; ``--check`` exits 1 when any is missing, stale or orphaned (a test does the
same).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from metalosc.protocol import write_atomic

PACKAGE_ROOT = Path(__file__).resolve().parents[4] / "unity" / "Assets" / "MetalOSC"
"""The Unity package in a source checkout (training/src/metalosc/training/ -> the repository)."""
SAMPLES_FOLDER = "Samples~"
"""The one ``~`` folder whose contents get ``.meta`` files (imported into projects as samples)."""
REGENERATE = "python -m metalosc.training._unity_meta --write"

_COMMON = "  externalObjects: {}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n"
FOLDER_IMPORTER = f"folderAsset: yes\nDefaultImporter:\n{_COMMON}"
SCRIPT_IMPORTER = (
    "MonoImporter:\n  externalObjects: {}\n  serializedVersion: 2\n  defaultReferences: []\n"
    "  executionOrder: 0\n  icon: {instanceID: 0}\n  userData: \n  assetBundleName: \n"
    "  assetBundleVariant: \n"
)
AUDIO_IMPORTER = (
    "AudioImporter:\n  externalObjects: {}\n  serializedVersion: 6\n  defaultSettings:\n"
    # Decompressed on load (short one-shots played many times a second), Vorbis in the build.
    "    loadType: 0\n    sampleRateSetting: 0\n    sampleRateOverride: 44100\n"
    "    compressionFormat: 1\n    quality: 1\n    conversionMode: 0\n"
    "  platformSettingOverrides: {}\n  forceToMono: 1\n"
    # Unity's normalisation would undo the balance the render sets between samples.
    "  normalize: 0\n"
    # Loaded with the scene, so PlayScheduled never waits for a clip's data.
    "  preloadAudioData: 1\n  loadInBackground: 0\n  ambisonic: 0\n  3D: 1\n"
    "  userData: \n  assetBundleName: \n  assetBundleVariant: \n"
)
_IMPORTERS = {
    ".cs": SCRIPT_IMPORTER,
    ".asmdef": f"AssemblyDefinitionImporter:\n{_COMMON}",
    ".ogg": AUDIO_IMPORTER,
    ".wav": AUDIO_IMPORTER,
    ".md": f"TextScriptImporter:\n{_COMMON}",
    ".txt": f"TextScriptImporter:\n{_COMMON}",
    ".json": f"TextScriptImporter:\n{_COMMON}",
}
_PACKAGE_MANIFEST_IMPORTER = f"PackageManifestImporter:\n{_COMMON}"


@dataclass(frozen=True)
class MetaProblems:
    """What `--check` found: assets without a ``.meta``, ``.meta`` files that differ from the
    generated text, and ``.meta`` files whose asset is gone."""

    missing: tuple[Path, ...]
    stale: tuple[Path, ...]
    orphaned: tuple[Path, ...]

    def __bool__(self) -> bool:
        return bool(self.missing or self.stale or self.orphaned)


def package_name(root: Path) -> str:
    """The ``name`` of the package's ``package.json``. ValueError when it has none."""
    manifest = root / "package.json"
    try:
        name = json.loads(manifest.read_text(encoding="utf-8"))["name"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{manifest}: no package name ({e})") from None
    if not isinstance(name, str) or not name:
        raise ValueError(f"{manifest}: no package name")
    return name


def guid(name: str, relative: str) -> str:
    """The GUID of the asset at `relative` (a POSIX path inside the package) of package `name`:
    32 hex digits, the same on every run and machine."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"unity-package:{name}/{relative}").hex


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.endswith(".meta")


def assets(root: Path) -> Iterator[Path]:
    """Every file and folder under `root` that needs a ``.meta``, in sorted order."""

    def walk(folder: Path, inside_samples: bool) -> Iterator[Path]:
        for path in sorted(folder.iterdir()):
            if _ignored(path.name):
                continue
            hidden = path.name.endswith("~")
            if path.is_dir():
                if hidden:
                    if path.name == SAMPLES_FOLDER and folder == root:
                        yield from walk(path, True)
                    continue
                yield path
                yield from walk(path, inside_samples)
            elif not hidden:
                yield path

    yield from walk(root, False)


def meta_text(root: Path, path: Path, name: str) -> str:
    """The ``.meta`` file of `path` (a file or folder under `root`)."""
    relative = path.relative_to(root).as_posix()
    if path.is_dir():
        importer = FOLDER_IMPORTER
    elif relative == "package.json":
        importer = _PACKAGE_MANIFEST_IMPORTER
    else:
        importer = _IMPORTERS.get(path.suffix.lower(), f"DefaultImporter:\n{_COMMON}")
    return f"fileFormatVersion: 2\nguid: {guid(name, relative)}\n{importer}"


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta")


def expected_metas(root: Path = PACKAGE_ROOT) -> dict[Path, str]:
    """Every ``.meta`` file the package needs, with its text."""
    name = package_name(root)
    return {_meta_path(p): meta_text(root, p, name) for p in assets(root)}


def _existing_metas(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.meta") if p.is_file())


def check(root: Path = PACKAGE_ROOT) -> MetaProblems:
    """Missing, stale and orphaned ``.meta`` files under `root`."""
    expected = expected_metas(root)
    missing = tuple(p for p in expected if not p.exists())
    stale = tuple(
        p for p, text in expected.items() if p.exists() and p.read_text(encoding="utf-8") != text
    )
    orphaned = tuple(p for p in _existing_metas(root) if p not in expected)
    return MetaProblems(missing, stale, orphaned)


def write(root: Path = PACKAGE_ROOT) -> MetaProblems:
    """Writes missing and stale ``.meta`` files (each atomically) and removes orphaned ones;
    returns what it fixed."""
    problems = check(root)
    expected = expected_metas(root)
    for path in (*problems.missing, *problems.stale):
        write_atomic(path, expected[path])
    for path in problems.orphaned:
        path.unlink()
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m metalosc.training._unity_meta",
        description="Write the Unity package's .meta files (GUIDs derived from paths).",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--write", action="store_true", help="write missing and stale, drop orphans"
    )
    action.add_argument("--check", action="store_true", help="exit 1 if any is missing or stale")
    parser.add_argument("--package", type=Path, default=PACKAGE_ROOT, help="package root folder")
    args = parser.parse_args(argv)
    if args.write:
        fixed = write(args.package)
        for label, paths in (
            ("written", (*fixed.missing, *fixed.stale)),
            ("removed", fixed.orphaned),
        ):
            for path in paths:
                print(f"{path}: {label}")
        if not fixed:
            print(f"{args.package}: every .meta is up to date")
        return 0
    problems = check(args.package)
    for label, paths in (
        ("missing", problems.missing),
        ("stale", problems.stale),
        ("orphaned", problems.orphaned),
    ):
        for path in paths:
            print(f"{path}: {label}; run {REGENERATE}")
    if not args.check:
        print(f"{args.package}: {len(expected_metas(args.package))} .meta files expected")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
