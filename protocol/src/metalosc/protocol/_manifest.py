"""The model-bundle manifest: its versioned schema and a loader that names the broken file.

A bundle is a directory per instrument holding `manifest.json`, the TF checkpoint it names,
`attributes.npz` (latent attribute vectors) and, from schema version 2 on, the ONNX decoder the
daemon runs without TensorFlow (`decoder`: its file, opset, inputs, outputs and how its output
reads as notes). Version 1 manifests (no decoder) still load: such a bundle is served through
the TF checkpoint. Training writes bundles and the server loads them at
start and on SIGHUP, so every failure here must say which file is wrong and why: an operator
reading the log should not need a debugger to fix a bundle.
"""

from __future__ import annotations

import glob
import json
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ._files import write_atomic
from ._messages import Instrument

MANIFEST_FILE = "manifest.json"
ATTRIBUTES_FILE = "attributes.npz"
MANIFEST_SCHEMA_VERSION: Literal[2] = 2
"""The version this code writes; it reads :data:`MANIFEST_SCHEMA_VERSIONS`."""
MANIFEST_SCHEMA_VERSIONS = (1, 2)
MANIFEST_MODE = 0o644
DECODER_Z = "z"
"""Decoder input: latents, ``[n, z_size]`` float32."""
DECODER_TEMPERATURE = "temperature"
"""Decoder input: the sampling temperature, a float32 scalar > 0."""
DECODER_CONTROLS = "controls"
"""Decoder input of a chord-conditioned model: ``[steps, control_depth]`` float32 one-hot chords,
the same for the whole batch."""
DECODER_OUTPUT = "samples"
"""Decoder output: ``[n, steps, output_depth]`` float32, one one-hot event per step."""
TENSION_ATTRIBUTE = "tension"
"""Key in attributes.npz of the tension vector: [z_size] float, calm -> intense direction."""
FILL_ATTRIBUTE = "fill"
"""Key in attributes.npz of the drums' fill vector: [z_size] float, beat -> fill direction (mean
posterior z of drum fills minus that of beats, the MusicVAE paper's attribute vectors). Optional:
only drums bundles computed from fill-labelled data carry it; readers take a missing one as zeros
(no push)."""
_OPTIONAL_ATTRIBUTES = (FILL_ATTRIBUTE,)
"""Keys in attributes.npz that a bundle may lack but that are validated when present. Any other
key beyond `tension` is carried along unchecked."""

_SHARD = re.compile(r"\.data-(\d{5})-of-(\d{5})$")


class ModelBundleError(Exception):
    """A model bundle that cannot be used; `path` is the broken file (or the bundle directory)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def _relative_inside(value: str) -> str:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value:
        raise ValueError("must be a relative path inside the bundle directory")
    return value


class TensorSpec(BaseModel):
    """One input or output of the ONNX decoder: its name, dtype (``float32``) and shape, where a
    string names a dimension that varies (``"n"``, the batch)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    dtype: Literal["float32"]
    shape: list[int | str]


class MelodyEncoding(BaseModel):
    """How a melody decoder's output reads (Magenta's ``MelodyOneHotEncoding``): event 0 is "no
    event" (the note goes on), 1 is "note off", ``2 + k`` starts pitch ``min_pitch + k``
    (``min_pitch``..``max_pitch`` inclusive, MIDI); notes have ``velocity``. ``chords``: the
    controls' chord encoding (``"triad"``: Magenta's ``TriadChordOneHotEncoding``), or None."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["melody"] = "melody"
    min_pitch: int = Field(ge=0, le=127)
    max_pitch: int = Field(ge=0, le=127)
    velocity: int = Field(ge=1, le=127)
    steps_per_quarter: int = Field(ge=1)
    chords: Literal["triad"] | None = None


class DrumsEncoding(BaseModel):
    """How a drum decoder's output reads (Magenta's ``MultiDrumOneHotEncoding``): event ``e`` sounds
    drum class ``i`` when bit ``i`` of ``e`` is set, as the first pitch of ``pitch_classes[i]``
    (GM drum pitches), one step long, with ``velocity``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["drums"] = "drums"
    pitch_classes: list[list[int]] = Field(min_length=1)
    velocity: int = Field(ge=1, le=127)
    steps_per_quarter: int = Field(ge=1)


class OnnxDecoderSpec(BaseModel):
    """The bundle's ONNX decoder: `file` (relative to the bundle), its ONNX `opset`, the graph's
    `inputs` (:data:`DECODER_Z`, :data:`DECODER_TEMPERATURE`, and :data:`DECODER_CONTROLS` for a
    chord-conditioned model) and `outputs` (:data:`DECODER_OUTPUT`), and the output's
    `encoding`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str = Field(min_length=1)
    opset: int = Field(ge=1)
    inputs: list[TensorSpec]
    outputs: list[TensorSpec] = Field(min_length=1)
    encoding: MelodyEncoding | DrumsEncoding = Field(discriminator="kind")

    @field_validator("file")
    @classmethod
    def _file_inside_bundle(cls, value: str) -> str:
        return _relative_inside(value)

    def input(self, name: str) -> TensorSpec | None:
        """The input called `name`, or None."""
        return next((spec for spec in self.inputs if spec.name == name), None)

    @property
    def output(self) -> TensorSpec:
        """The samples output (:data:`DECODER_OUTPUT`, else the first)."""
        return next((s for s in self.outputs if s.name == DECODER_OUTPUT), self.outputs[0])


class ModelManifest(BaseModel):
    """`manifest.json` of a model bundle, schema version 1 or 2.

    `hparams` and `converter` are overrides on the named Magenta config (`CONFIG_MAP` key), so
    the model is rebuilt exactly as it was trained; `checkpoint` is the checkpoint prefix relative
    to the bundle directory; `decoder` (version 2 only, optional) is the ONNX decoder.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    schema_version: Literal[1, 2] = MANIFEST_SCHEMA_VERSION
    instrument: Instrument
    preset: str = Field(min_length=1)
    magenta_config: str = Field(min_length=1)
    hparams: dict[str, int | float | str | bool | list[int]]
    converter: dict[str, Any]
    checkpoint: str = Field(min_length=1)
    data_fingerprint: str
    metrics: dict[str, float]
    created_at: AwareDatetime
    z_size: int = Field(ge=1)
    decoder: OnnxDecoderSpec | None = None

    @field_validator("checkpoint")
    @classmethod
    def _checkpoint_inside_bundle(cls, value: str) -> str:
        return _relative_inside(value)

    @model_validator(mode="after")
    def _decoder_needs_version_2(self) -> ModelManifest:
        if self.decoder is not None and self.schema_version < 2:
            raise ValueError("a decoder needs schema_version 2")
        return self


def _validation_reason(error: ValidationError) -> str:
    problems = []
    for item in error.errors()[:3]:
        field = ".".join(str(part) for part in item["loc"]) or "(root)"
        problems.append(f"field '{field}': {item['msg']}")
    more = error.error_count() - len(problems)
    return "schema violation: " + "; ".join(problems) + (f" (+{more} more)" if more > 0 else "")


def load_manifest(bundle_dir: Path) -> ModelManifest:
    """The validated manifest of the bundle in `bundle_dir`.

    Raises ModelBundleError naming manifest.json (or the directory) on any problem: missing,
    unreadable, invalid JSON, unsupported schema version, or a field violating the schema.
    """
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        raise ModelBundleError(bundle_dir, "bundle directory does not exist")
    path = bundle_dir / MANIFEST_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelBundleError(path, "missing") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ModelBundleError(path, f"unreadable: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelBundleError(
            path, f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        ) from None
    if not isinstance(data, dict):
        raise ModelBundleError(
            path, f"invalid manifest: expected a JSON object, got {type(data).__name__}"
        )
    version = data.get("schema_version")
    if version not in MANIFEST_SCHEMA_VERSIONS:
        expected = " or ".join(str(v) for v in MANIFEST_SCHEMA_VERSIONS)
        raise ModelBundleError(
            path, f"unsupported schema_version {version!r} (expected {expected})"
        )
    try:
        return ModelManifest.model_validate(data)
    except ValidationError as e:
        raise ModelBundleError(path, _validation_reason(e)) from None


def write_manifest(bundle_dir: Path, manifest: ModelManifest) -> None:
    """Writes `manifest.json` into `bundle_dir` atomically (temp file, fsync, `os.replace`), so a
    crash never leaves a half-written manifest that a reloading server would trip on."""
    bundle_dir = Path(bundle_dir)
    payload = manifest.model_dump_json(indent=2) + "\n"
    # the server may run as another user (systemd): the manifest is always world-readable
    write_atomic(bundle_dir / MANIFEST_FILE, payload, mode=MANIFEST_MODE)


def _check_readable(path: Path, what: str) -> None:
    if not path.is_file():
        raise ModelBundleError(path, f"missing {what}")
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as e:
        raise ModelBundleError(path, f"unreadable {what}: {e.strerror or e}") from None


def _check_checkpoint(bundle_dir: Path, checkpoint: str) -> None:
    prefix = bundle_dir / checkpoint
    _check_readable(prefix.with_name(prefix.name + ".index"), "checkpoint index")
    shards = sorted(prefix.parent.glob(f"{glob.escape(prefix.name)}.data-*-of-*"))
    if not shards:
        raise ModelBundleError(
            prefix.with_name(prefix.name + ".data-00000-of-00001"), "missing checkpoint data"
        )
    totals = set()
    for shard in shards:
        match = _SHARD.search(shard.name)
        if match is None:
            continue
        totals.add(int(match.group(2)))
    for total in totals:
        for i in range(total):
            name = f"{prefix.name}.data-{i:05d}-of-{total:05d}"
            _check_readable(prefix.with_name(name), "checkpoint data shard")


def _check_vector(path: Path, key: str, vector: np.ndarray[Any, Any], z_size: int) -> None:
    if vector.shape != (z_size,) or not np.issubdtype(vector.dtype, np.floating):
        raise ModelBundleError(
            path,
            f"'{key}' is {vector.dtype} {vector.shape}, expected float ({z_size},) to match z_size",
        )
    if not np.all(np.isfinite(vector)):
        raise ModelBundleError(path, f"'{key}' has non-finite values")


def _check_attributes(path: Path, z_size: int) -> None:
    if not path.is_file():
        raise ModelBundleError(path, "missing")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if TENSION_ATTRIBUTE not in archive.files:
                raise ModelBundleError(path, f"no '{TENSION_ATTRIBUTE}' array")
            keys = [TENSION_ATTRIBUTE, *(k for k in _OPTIONAL_ATTRIBUTES if k in archive.files)]
            vectors = {key: archive[key] for key in keys}
    except ModelBundleError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise ModelBundleError(path, f"unreadable: {e}") from None
    for key, vector in vectors.items():
        _check_vector(path, key, vector, z_size)


def check_model_bundle(bundle_dir: Path, manifest: ModelManifest) -> None:
    """Checks that the files `manifest` names exist and are readable: the checkpoint's `.index`
    and every `.data-NNNNN-of-NNNNN` shard, attributes.npz with a finite `tension` vector of
    length `z_size` (and, when present, a finite `fill` vector of that length; other keys are
    not checked), and the ONNX decoder file when there is one. Raises ModelBundleError naming
    the missing or broken file."""
    bundle_dir = Path(bundle_dir)
    _check_checkpoint(bundle_dir, manifest.checkpoint)
    _check_attributes(bundle_dir / ATTRIBUTES_FILE, manifest.z_size)
    if manifest.decoder is not None:
        _check_readable(bundle_dir / manifest.decoder.file, "ONNX decoder")
