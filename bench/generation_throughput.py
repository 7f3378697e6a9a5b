"""Benchmark 3: phrases per second of each production model (random weights), batched as the
daemon decodes vs ``TrainedModel.sample(n=1)`` once per phrase (the prototype's way), side by side.

Random weights cost exactly what trained ones do. Each model gets a fresh config per graph (Magenta
Trap 2: a config whose model was built cannot be deep-copied again).

    .venv/bin/python bench/generation_throughput.py --batch 16 --seconds 10
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

PRODUCTION = {
    "guitar": "cat-mel_2bar_big",
    "bass": "cat-mel_2bar_med_chords",
    "drums": "cat-drums_2bar_small",
}


def fresh_config(name: str) -> Any:
    from magenta.models.music_vae import configs

    return copy.deepcopy(configs.CONFIG_MAP[name])


def random_checkpoint(name: str, directory: Path) -> str:
    """Build ``name``'s inference graph, initialise it randomly and save it."""
    import tensorflow.compat.v1 as tf

    config = fresh_config(name)
    config.data_converter.set_mode("infer")
    with tf.Graph().as_default():  # the variables TrainedModel's graph restores
        converter, hparams = config.data_converter, config.hparams
        config.model.build(hparams, converter.output_depth, is_training=False)
        control = converter.control_depth
        config.model.sample(
            1,
            max_length=hparams.max_seq_len,
            z=tf.zeros([1, hparams.z_size]),
            c_input=tf.zeros([hparams.max_seq_len, control]) if control else None,
            temperature=1.0,
        )
        config.model.encode(
            tf.placeholder(tf.float32, [1, None, converter.input_depth]),
            tf.placeholder(tf.int32, [1, *converter.length_shape]),
            tf.placeholder(tf.float32, [1, None, control]),
        )
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            return str(tf.train.Saver().save(sess, str(directory / "model.ckpt")))


def chord_controls(name: str) -> np.ndarray | None:
    """Em then G, one chord per bar, one control row per step (as ``med_chords`` wants)."""
    config = fresh_config(name)
    if not config.data_converter.control_depth:
        return None
    import note_seq

    encoding = note_seq.TriadChordOneHotEncoding()
    steps = config.hparams.max_seq_len
    chords = ["Em", "G"]
    rows = [encoding.encode_event(chords[(k * len(chords)) // steps]) for k in range(steps)]
    return np.eye(encoding.num_classes, dtype=np.float32)[rows]


def rate(model: Any, n: int, length: int, seconds: float, controls: np.ndarray | None) -> float:
    """Phrases per second of ``model.sample(n)`` (after one warm-up call)."""
    model.sample(n=n, length=length, temperature=1.0, c_input=controls)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        done += len(model.sample(n=n, length=length, temperature=1.0, c_input=controls))
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16, help="the daemon's --batch-size")
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--instruments", nargs="*", default=list(PRODUCTION))
    args = parser.parse_args()

    import tensorflow.compat.v1 as tf
    from magenta.models.music_vae import TrainedModel

    tf.disable_v2_behavior()
    print(
        f"{'instrument':<8} {'config':<26} {'n=1 ph/s':>9} {f'batch {args.batch} ph/s':>15} "
        f"{'ratio':>6}"
    )
    for instrument in args.instruments:
        name = PRODUCTION[instrument]
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = random_checkpoint(name, Path(tmp))
            controls = chord_controls(name)
            length = fresh_config(name).hparams.max_seq_len
            single = TrainedModel(fresh_config(name), 1, checkpoint)
            one = rate(single, 1, length, args.seconds, controls)
            batched = TrainedModel(fresh_config(name), args.batch, checkpoint)
            many = rate(batched, args.batch, length, args.seconds, controls)
        print(
            f"{instrument:<8} {name:<26} {one:>9.1f} {many:>15.1f} {many / one:>5.1f}x", flush=True
        )


if __name__ == "__main__":
    main()
