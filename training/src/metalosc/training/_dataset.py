"""NoteSequence TFRecords -> the padded tensors a MusicVAE trains and evaluates on.

Magenta's ``music_vae.data.get_dataset`` segfaults on TF 2.15 (tf.data's unbatch of its
zero-depth control tensors crashes the process), so examples are extracted here in Python with
the config's own ``data_converter.to_tensors`` (the exact tensors Magenta's pipeline would make)
and fed to ``tf.data.Dataset.from_tensor_slices``.

One-hot tensors are stored as token indices (and re-expanded with ``tf.one_hot`` inside the
input pipeline): a 100k-example guitar corpus is 13 MB of int16 instead of 1.2 GB of float32.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog
from metalosc.training._midi_io import NoteSequence, read_note_sequences
from numpy.typing import NDArray

log = structlog.get_logger(__name__)

#: Examples encoded per attribute vector and class (a deterministic sample when there are more).
MAX_ATTRIBUTE_EXAMPLES = 4096


@dataclass(frozen=True)
class Packed:
    """[N, T] token indices (-1 = padding) when every row is one-hot, else dense [N, T, depth]."""

    data: NDArray[np.int16] | NDArray[np.bool_]
    depth: int

    @property
    def is_index(self) -> bool:
        """Whether `data` holds token indices."""
        return self.data.ndim == 2

    def dense(self) -> NDArray[np.float32]:
        """The float32 [N, T, depth] tensor."""
        if not self.is_index:
            return self.data.astype(np.float32)
        out = np.zeros((*self.data.shape, self.depth), np.float32)
        n, t = np.nonzero(self.data >= 0)
        out[n, t, self.data[n, t]] = 1.0
        return out


def pack(tensors: Sequence[npt.ArrayLike], depth: int, length: int) -> Packed:
    """Pads each [t, depth] tensor to `length` steps and packs them (see :class:`Packed`)."""
    dense = np.zeros((len(tensors), length, depth), np.bool_)
    if depth == 0:  # models without controls: a zero-depth tensor, as Magenta feeds it
        return Packed(dense, 0)
    for i, t in enumerate(tensors):
        arr = np.asarray(t).reshape(-1, depth)[:length]
        dense[i, : len(arr)] = arr > 0
    sums = dense.sum(axis=-1)
    if depth and np.all(sums <= 1) and depth < np.iinfo(np.int16).max:
        index = np.where(sums == 1, dense.argmax(axis=-1), -1).astype(np.int16)
        return Packed(index, depth)
    return Packed(dense, depth)


@dataclass(frozen=True)
class Examples:
    """The examples of one instrument split, padded to the model's `length` steps."""

    inputs: Packed
    outputs: Packed
    controls: Packed
    lengths: NDArray[np.int32]  # [N]
    sequences: int  # NoteSequences they came from

    def __len__(self) -> int:
        return len(self.lengths)

    def subset(self, indices: NDArray[np.integer[Any]]) -> Examples:
        """The examples at `indices`."""
        return Examples(
            Packed(self.inputs.data[indices], self.inputs.depth),
            Packed(self.outputs.data[indices], self.outputs.depth),
            Packed(self.controls.data[indices], self.controls.depth),
            self.lengths[indices],
            self.sequences,
        )


def extract_examples(sequences: Iterable[NoteSequence], config: Any) -> Examples:
    """Every example `config.data_converter` extracts from `sequences` (deterministically: the
    converter runs in eval mode, so no random sub-sampling), padded to `max_seq_len`."""
    converter = config.data_converter
    converter.set_mode("eval")
    length = int(config.hparams.max_seq_len)
    # The converter's tensors (one-hot rows, as numpy arrays or nested lists).
    inputs: list[npt.ArrayLike] = []
    outputs: list[npt.ArrayLike] = []
    controls: list[npt.ArrayLike] = []
    lengths: list[int] = []
    count = 0
    for seq in sequences:
        count += 1
        tensors = converter.to_tensors(copy.deepcopy(seq))
        for i in range(len(tensors.inputs)):
            inputs.append(tensors.inputs[i])
            outputs.append(tensors.outputs[i])
            c = tensors.controls[i] if tensors.controls else None
            controls.append(np.zeros((0, converter.control_depth)) if c is None else np.asarray(c))
            lengths.append(min(int(tensors.lengths[i]), length))
    return Examples(
        inputs=pack(inputs, converter.input_depth, length),
        outputs=pack(outputs, converter.output_depth, length),
        controls=pack(controls, converter.control_depth, length),
        lengths=np.asarray(lengths, np.int32),
        sequences=count,
    )


def sample_examples(examples: Examples, max_examples: int, seed: int = 0) -> Examples:
    """`examples` unchanged when there are at most `max_examples`, else a deterministic sample of
    that many (kept in their order)."""
    if len(examples) <= max_examples:
        return examples
    rng = np.random.default_rng(seed)
    return examples.subset(np.sort(rng.choice(len(examples), max_examples, replace=False)))


def posterior_means(session: Any, examples: Examples) -> NDArray[np.float32]:
    """[N, z_size] posterior means of `examples` under a :class:`metalosc.runtime.ModelSession`
    (the latents the MusicVAE paper's attribute vectors average)."""
    return np.asarray(
        session.encode_tensors(
            list(examples.inputs.dense()),
            examples.lengths.tolist(),
            list(examples.controls.dense()) if session.control_depth else None,
        ),
        np.float32,
    )


def load_examples(path: Path, config: Any) -> Examples:
    """The examples of a NoteSequence TFRecord file (convert's output)."""
    examples = extract_examples(read_note_sequences(path), config)
    log.info("dataset.loaded", path=str(path), sequences=examples.sequences, examples=len(examples))
    return examples


def make_dataset(
    examples: Examples, batch_size: int, *, seed: int = 0, shuffle: bool = True
) -> Any:
    """An endless, shuffled ``tf.data`` pipeline of (inputs, outputs, controls, lengths) float
    batches in the order ``music_vae_train._get_input_tensors`` expects."""
    import tensorflow as tf

    if len(examples) == 0:
        raise ValueError("no training examples: the converter extracted nothing from the data")

    def expand(packed: Packed, value: Any) -> Any:
        if packed.is_index:
            return tf.one_hot(tf.cast(value, tf.int32), packed.depth, dtype=tf.float32)
        return tf.cast(value, tf.float32)

    def to_float(x: Any, y: Any, c: Any, n: Any) -> tuple[Any, Any, Any, Any]:
        return (
            expand(examples.inputs, x),
            expand(examples.outputs, y),
            expand(examples.controls, c),
            n,
        )

    dataset = tf.data.Dataset.from_tensor_slices(
        (
            examples.inputs.data,
            examples.outputs.data,
            examples.controls.data,
            examples.lengths,
        )
    )
    if shuffle:
        dataset = dataset.shuffle(min(len(examples), 100_000), seed=seed)
    return (
        dataset.repeat()
        .map(to_float, num_parallel_calls=2)
        .batch(batch_size, drop_remainder=True)
        .prefetch(2)
    )


def fingerprint_files(paths: Sequence[Path]) -> str:
    """sha256 over the names and bytes of `paths` (the training TFRecords): what a bundle was
    trained on, and whether a stage's inputs changed."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


def fingerprint_examples(examples: Examples) -> str:
    """sha256 over the example tensors, for data that never was a file (generated corpora)."""
    digest = hashlib.sha256()
    for array in (
        examples.inputs.data,
        examples.outputs.data,
        examples.controls.data,
        examples.lengths,
    ):
        digest.update(np.ascontiguousarray(array).tobytes())
    return "sha256:" + digest.hexdigest()
