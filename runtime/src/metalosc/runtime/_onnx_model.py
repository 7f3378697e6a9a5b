"""A bundle's ONNX decoder run by ONNX Runtime: decoding without TensorFlow, Magenta or note_seq.

The daemon only decodes. A bundle exported with an ONNX decoder (manifest schema 2,
``decoder``) is served by :class:`OnnxInstrumentModel`: ONNX Runtime runs the decoder
(``[n, z_size]`` latents → ``[n, 32, depth]`` one-hot events, any batch size in one run), and
:func:`~metalosc.runtime.sequences_from_samples` turns the events into phrases. Chord controls
are encoded by the runtime's own triad encoding. A model worker that loads it imports numpy and
onnxruntime, nothing of TensorFlow's stack. :func:`load_instrument_model` picks the backend: the
ONNX decoder when the bundle has one, else the TF checkpoint (:class:`InstrumentModel`).

Not thread-safe: callers serialize calls (the daemon runs one model per worker).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import structlog
from metalosc.protocol import (
    DECODER_CONTROLS,
    DECODER_TEMPERATURE,
    DECODER_Z,
    ModelBundleError,
    ModelManifest,
    OnnxDecoderSpec,
    check_model_bundle,
    load_manifest,
)
from numpy.typing import NDArray

from ._bundle_model import BundleModel, load_attributes
from ._chords import TRIAD_ENCODING
from ._steps import StepSequence, sequences_from_samples

__all__ = ["Backend", "OnnxDecoder", "OnnxInstrumentModel", "load_instrument_model"]

log = structlog.get_logger(__name__)

Backend = Literal["auto", "onnx", "tf"]
"""How a bundle is decoded: ``onnx`` (its ONNX decoder), ``tf`` (its TF checkpoint), ``auto``
(ONNX when the bundle has a decoder, else TF)."""


class OnnxDecoder:
    """A bundle's ONNX decoder in an ONNX Runtime session (CPU).

    ``threads`` caps ONNX Runtime's intra-op pool (three workers share the machine's cores) and
    spinning is off, so an idle worker leaves the cores to the event loop. Raises
    ``ModelBundleError`` naming the decoder file when ONNX Runtime cannot load it or its inputs and
    outputs are not the ones `spec` lists.
    """

    def __init__(self, path: Path, spec: OnnxDecoderSpec, *, threads: int | None = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # The arena would keep the largest batch's buffers for good: a few MiB per worker
        # against allocations that cost microseconds next to a decode's milliseconds.
        options.enable_cpu_mem_arena = False
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # ORT raises its own Fail/InvalidProtobuf/... classes
            raise ModelBundleError(path, f"unreadable ONNX decoder: {_first_line(e)}") from None
        self.path = path
        self.spec = spec
        self._check_signature()
        self.length = int(spec.output.shape[1])
        self.depth = int(spec.output.shape[2])
        controls = spec.input(DECODER_CONTROLS)
        self.control_depth = int(controls.shape[1]) if controls is not None else 0

    def _check_signature(self) -> None:
        graph = {i.name: i.shape for i in self.session.get_inputs()}
        listed = {i.name: i.shape for i in self.spec.inputs}
        outputs = {o.name for o in self.session.get_outputs()}
        problem = None
        if set(graph) != set(listed):
            problem = f"inputs {sorted(graph)}, the manifest lists {sorted(listed)}"
        elif DECODER_Z not in graph or DECODER_TEMPERATURE not in graph:
            problem = f"inputs {sorted(graph)} lack {DECODER_Z!r} or {DECODER_TEMPERATURE!r}"
        elif self.spec.output.name not in outputs:
            problem = f"outputs {sorted(outputs)} lack {self.spec.output.name!r}"
        elif len(self.spec.output.shape) != 3 or not all(
            isinstance(d, int) for d in self.spec.output.shape[1:]
        ):
            problem = f"output shape {self.spec.output.shape} is not [n, steps, depth]"
        else:
            for name, shape in listed.items():
                fixed = [d for d in shape if isinstance(d, int)]
                if fixed != [d for d in graph[name] if isinstance(d, int)]:
                    problem = f"input {name!r} has shape {graph[name]}, the manifest lists {shape}"
                    break
        if problem is not None:
            raise ModelBundleError(self.path, f"ONNX decoder does not match manifest: {problem}")

    def decode_tensors(
        self, z: NDArray[Any], temperature: float = 1.0, controls: NDArray[Any] | None = None
    ) -> NDArray[np.float32]:
        """Samples ``[n, steps, depth]`` float32 one-hot events from latents ``z`` ``[n, z_size]``
        at ``temperature`` (> 0); ``controls`` ``[steps, control_depth]`` condition the whole
        batch (chord models). Raises ``ValueError`` for bad shapes or temperature."""
        z = np.ascontiguousarray(z, dtype=np.float32)
        z_size = self.spec.input(DECODER_Z)
        if z.ndim != 2 or (z_size is not None and z.shape[1] != z_size.shape[-1]):
            raise ValueError(f"z must have shape [n, z_size], got {list(z.shape)}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if len(z) == 0:
            return np.zeros([0, self.length, self.depth], np.float32)
        feed: dict[str, NDArray[Any]] = {
            DECODER_Z: z,
            DECODER_TEMPERATURE: np.asarray(temperature, np.float32),
        }
        if self.control_depth:
            if controls is None:
                raise ValueError("this model is chord-conditioned: chord controls are required")
            feed[DECODER_CONTROLS] = np.asarray(controls, np.float32)
        (samples,) = self.session.run([self.spec.output.name], feed)
        return np.asarray(samples, np.float32)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class OnnxInstrumentModel(BundleModel):
    """One instrument's model from a bundle with an ONNX decoder: decodes latents into quantized
    2-bar phrases (:class:`~metalosc.runtime.StepSequence`) like
    :meth:`InstrumentModel.decode`, without TensorFlow. Decoding only: encoding needs the TF
    checkpoint (:class:`InstrumentModel`)."""

    def __init__(
        self,
        decoder: OnnxDecoder,
        manifest: ModelManifest,
        attributes: dict[str, NDArray[Any]],
    ) -> None:
        if manifest.decoder is None:
            raise ValueError("the manifest lists no ONNX decoder")
        self._decoder = decoder
        super().__init__(
            manifest,
            attributes,
            z_size=manifest.z_size,
            steps=decoder.length,
            control_depth=decoder.control_depth,
            chord_encoding=TRIAD_ENCODING,
        )
        self.encoding = manifest.decoder.encoding

    @classmethod
    def load(cls, bundle_dir: Path, *, threads: int | None = 1) -> OnnxInstrumentModel:
        """Loads a bundle's ONNX decoder; ``ModelBundleError`` naming the broken file
        (manifest.json — also when it lists no decoder —, the decoder, attributes.npz)."""
        bundle_dir = Path(bundle_dir)
        manifest = load_manifest(bundle_dir)
        if manifest.decoder is None:
            raise ModelBundleError(
                bundle_dir / "manifest.json",
                "lists no ONNX decoder (re-export the bundle, or serve it with the TF backend)",
            )
        check_model_bundle(bundle_dir, manifest)
        attributes = load_attributes(bundle_dir)
        decoder = OnnxDecoder(bundle_dir / manifest.decoder.file, manifest.decoder, threads=threads)
        chords = getattr(manifest.decoder.encoding, "chords", None)
        if bool(decoder.control_depth) != (chords is not None):
            raise ModelBundleError(
                bundle_dir / "manifest.json",
                f"decoder controls ({decoder.control_depth}) and chord encoding ({chords}) "
                "disagree",
            )
        log.info(
            "model.loaded",
            instrument=manifest.instrument,
            preset=manifest.preset,
            z_size=manifest.z_size,
            bundle=str(bundle_dir),
            backend="onnx",
        )
        return cls(decoder, manifest, attributes)

    @property
    def decoder(self) -> OnnxDecoder:
        """The tensor-level decoder (for tests and benchmarks)."""
        return self._decoder

    def decode(
        self, z: NDArray[Any], temperature: float = 1.0, chords: Sequence[str] | None = None
    ) -> list[StepSequence]:
        """Decodes latents ``z`` ``[n, z_size]`` into n 2-bar phrases in one run; ``chords`` (one
        per bar) condition the whole batch and are required for the chord-conditioned model.
        Raises ``ValueError`` for chords the model cannot take, bad shapes or temperature."""
        controls = self._controls(chords)
        samples = self._decoder.decode_tensors(z, temperature, controls)
        return sequences_from_samples(samples, self.encoding, self.instrument)

    def close(self) -> None:
        """Frees the ONNX Runtime session."""
        del self._decoder.session


def load_instrument_model(
    bundle_dir: Path, backend: Backend = "auto", *, threads: int | None = 1
) -> Any:
    """The bundle's model on ``backend``: an :class:`OnnxInstrumentModel` (``onnx``, or
    ``auto`` when the manifest lists a decoder) or an :class:`InstrumentModel` (``tf``, or
    ``auto`` without a decoder; imports TensorFlow). Raises ``ModelBundleError`` naming the broken
    file, and for ``onnx`` on a bundle without a decoder."""
    bundle_dir = Path(bundle_dir)
    if backend not in ("auto", "onnx", "tf"):
        raise ValueError(f"unknown backend {backend!r}; expected auto, onnx or tf")
    if backend == "auto":
        backend = "onnx" if load_manifest(bundle_dir).decoder is not None else "tf"
    if backend == "onnx":
        return OnnxInstrumentModel.load(bundle_dir, threads=threads)
    from ._model import InstrumentModel

    return InstrumentModel.load(bundle_dir)
