"""The bundle's ONNX decoder: Magenta's decode graph, frozen and converted with tf2onnx.

The daemon only ever decodes (latent → notes), so a bundle carries its decoder as an ONNX model
that ONNX Runtime runs without TensorFlow (``metalosc.runtime.OnnxDecoder``). The graph is built
from the bundle's own Magenta config and checkpoint, with Magenta's decoder cell, output layer,
``_decode`` loop and ``_sample`` (tfp's one-hot categorical), and differs from
``BaseLstmDecoder.sample`` in two places only, both needed for a convertible graph with the same
values:

* the batch size is read from ``z`` at run time instead of being a Python int, so one ONNX model
  decodes any batch (Magenta's ``sample`` insists on a static batch; freezing one per batch size
  would store the weights once per size);
* the chord-conditioned decoder's end test, a ``tf.cond`` whose branches are the constants
  ``False`` and ``True`` (a ``Merge`` tf2onnx cannot lower), is the comparison it computes,
  ``time >= len(controls) - 1``; its next-control ``tf.cond`` is a gather from the controls
  padded with one zero row (the row Magenta's other branch gives, never read).

tfp samples with ``StatelessMultinomial``, which tf2onnx does not know: :func:`_multinomial`
maps it to ONNX ``Multinomial`` (ONNX Runtime then draws from its own generator; the stateless
seed, itself drawn from a stateful op in TF, has no meaning there).

One rewrite of the converted graph saves most of the decoder's arithmetic
(:func:`_factor_first_layer`): at every step the first LSTM layer multiplies
``[previous sample, z, (chord row), h]`` by its kernel, but the previous sample is one-hot (a row
of the kernel, gathered) and ``z`` is the same at every step (its product is computed once, before
the loop). For the drums, whose samples have 512 classes, that is two thirds of a step's
multiply-adds. The sums are the same up to floating-point rounding.

A second rewrite removes what does nothing (:func:`_drop_dead_arithmetic`). tf2onnx lowers
``LSTMBlockCell`` with its peephole connections whatever ``use_peephole`` says: each gate adds
``c * 0`` (a zero weight vector), three multiplications and three additions per layer and step;
and the loop's end test negates a negation. At a batch of a few phrases the loop's time goes to
dispatching its ~70 small operators a step rather than to arithmetic, so fewer operators is
faster (the bass's decoder loses 14 of 72, ``bench/decode_throughput.py``). The values are
unchanged: ``x + c * 0`` is ``x`` for the finite ``c`` an LSTM carries.

Held equal on the training side (``training/tests/test_training_onnx.py``): ORT and TF decodes of
the same latents agree exactly at :data:`~metalosc.runtime.GREEDY_TEMPERATURE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import structlog
from metalosc.protocol import (
    DECODER_CONTROLS,
    DECODER_OUTPUT,
    DECODER_TEMPERATURE,
    DECODER_Z,
    MANIFEST_SCHEMA_VERSION,
    SHARED_FILE_MODE,
    ModelManifest,
    OnnxDecoderSpec,
    TensorSpec,
    check_model_bundle,
    load_manifest,
    write_atomic,
    write_manifest,
)
from metalosc.runtime import build_config, output_encoding

__all__ = ["DECODER_FILE", "ONNX_OPSET", "add_onnx_decoder", "decoder_spec", "export_onnx_decoder"]

log = structlog.get_logger(__name__)

DECODER_FILE = "decoder.onnx"
#: ONNX opset of the exported decoders: ONNX Runtime 1.16 and later run it.
ONNX_OPSET = 17


def _sample_graph(
    tf: Any, decoder: Any, z: Any, temperature: Any, controls: Any, length: int
) -> Any:
    """``BaseLstmDecoder.sample`` with a run-time batch size and without control flow on
    constants (module docstring); returns the samples, ``[n, length, output_depth]``."""
    from magenta.contrib import seq2seq as contrib_seq2seq
    from magenta.models.music_vae import lstm_utils

    n = tf.shape(z)[0]
    depth = decoder._output_depth
    start_inputs = tf.concat([tf.zeros(tf.stack([n, depth]), tf.float32), z], axis=-1)
    padded = None
    if controls is not None:
        tiled = tf.tile(tf.expand_dims(controls, 1), tf.stack([1, n, 1]))
        start_inputs = tf.concat([start_inputs, tiled[0]], axis=-1)
        padded = tf.concat([tiled, tf.zeros_like(tiled[:1])], axis=0)

    def initialize_fn() -> tuple[Any, Any]:
        return tf.zeros(tf.reshape(n, [1]), tf.bool), start_inputs

    def sample_fn(time: Any, outputs: Any, state: Any) -> Any:
        return decoder._sample(outputs, temperature)

    def next_inputs_fn(time: Any, outputs: Any, state: Any, sample_ids: Any) -> Any:
        next_inputs = tf.concat([sample_ids, z], axis=-1)
        if padded is None:
            return False, next_inputs, state
        finished = tf.greater_equal(time, tf.shape(controls)[0] - 1)
        next_inputs = tf.concat([next_inputs, tf.gather(padded, time + 1)], axis=-1)
        return finished, next_inputs, state

    helper = contrib_seq2seq.CustomHelper(
        initialize_fn=initialize_fn,
        sample_fn=sample_fn,
        next_inputs_fn=next_inputs_fn,
        sample_ids_shape=[depth],
        sample_ids_dtype=tf.float32,
    )
    # Magenta's ``_decode``, except that the initial state's structure comes from a zero state
    # of the run-time batch size (``initial_cell_state_from_embedding`` asks z for a static one).
    cell = decoder._dec_cell
    sizes = tf.nest.flatten(cell.state_size)
    embedding = tf.compat.v1.layers.dense(
        z, sum(sizes), activation=tf.tanh, name="decoder/z_to_initial_state"
    )
    initial_state = tf.nest.pack_sequence_as(
        cell.zero_state(batch_size=n, dtype=tf.float32), tf.split(embedding, sizes, axis=1)
    )
    lstm_decoder = lstm_utils.Seq2SeqLstmDecoder(
        cell,
        helper,
        initial_state=initial_state,
        input_shape=start_inputs.shape[1:],
        output_layer=decoder._output_layer,
    )
    output, _, _ = contrib_seq2seq.dynamic_decode(
        lstm_decoder, maximum_iterations=length, swap_memory=True, scope="decoder"
    )
    return output.sample_id


def _multinomial(ctx: Any, node: Any, name: str, args: Any) -> None:
    """tf2onnx handler: TF ``StatelessMultinomial(logits, num_samples, seed)`` as ONNX
    ``Multinomial(logits)`` with ``sample_size`` = num_samples (tfp draws one sample per row)."""
    samples = int(node.inputs[1].get_tensor_value())
    dtype = node.get_attr_value("output_dtype")
    ctx.remove_input(node, node.input[2], 2)
    ctx.remove_input(node, node.input[1], 1)
    node.type = "Multinomial"
    for attr in ("T", "Tseed", "output_dtype"):
        if attr in node.attr:
            del node.attr[attr]
    node.set_attr("sample_size", samples)
    node.set_attr("dtype", dtype)


def _frozen_decoder(manifest: ModelManifest, checkpoint: str) -> tuple[Any, dict[str, str], str]:
    """The bundle's decode graph with its weights as constants: (GraphDef, {input name: TF
    tensor name}, output TF tensor name)."""
    import tensorflow as tf

    tf.compat.v1.disable_v2_behavior()
    v1 = tf.compat.v1
    config = build_config(manifest.magenta_config, manifest.hparams, manifest.converter)
    config.hparams.sampling_schedule = "constant"
    config.hparams.sampling_rate = 0
    converter = config.data_converter
    converter.set_mode("infer")
    length = int(config.hparams.max_seq_len)
    control_depth = int(converter.control_depth)
    graph = tf.Graph()
    with graph.as_default():
        config.model.build(config.hparams, int(converter.output_depth), is_training=False)
        z = v1.placeholder(tf.float32, [None, int(config.hparams.z_size)], name=DECODER_Z)
        temperature = v1.placeholder(tf.float32, [], name=DECODER_TEMPERATURE)
        controls = (
            v1.placeholder(tf.float32, [length, control_depth], name=DECODER_CONTROLS)
            if control_depth
            else None
        )
        samples = _sample_graph(tf, config.model.decoder, z, temperature, controls, length)
        output = tf.identity(samples, name=DECODER_OUTPUT)
        variables = [
            v for v in v1.global_variables() if v.op.name != config.model.global_step.op.name
        ]
        with v1.Session(graph=graph) as session:
            v1.train.Saver(variables).restore(session, checkpoint)
            frozen = v1.graph_util.convert_variables_to_constants(
                session, graph.as_graph_def(), [output.op.name]
            )
    inputs = {DECODER_Z: z.name, DECODER_TEMPERATURE: temperature.name}
    if controls is not None:
        inputs[DECODER_CONTROLS] = controls.name
    return frozen, inputs, output.name


def decoder_spec(manifest: ModelManifest, file: str = DECODER_FILE) -> OnnxDecoderSpec:
    """What the manifest says of the decoder: file, opset, and the graph's inputs and outputs
    (``n`` is the batch dimension), with the output's encoding for turning it into notes."""
    config = build_config(manifest.magenta_config, manifest.hparams, manifest.converter)
    converter = config.data_converter
    length = int(config.hparams.max_seq_len)
    inputs = [
        TensorSpec(name=DECODER_Z, dtype="float32", shape=["n", manifest.z_size]),
        TensorSpec(name=DECODER_TEMPERATURE, dtype="float32", shape=[]),
    ]
    if converter.control_depth:
        inputs.append(
            TensorSpec(
                name=DECODER_CONTROLS, dtype="float32", shape=[length, int(converter.control_depth)]
            )
        )
    output = TensorSpec(
        name=DECODER_OUTPUT, dtype="float32", shape=["n", length, int(converter.output_depth)]
    )
    return OnnxDecoderSpec(
        file=file,
        opset=ONNX_OPSET,
        inputs=inputs,
        outputs=[output],
        encoding=output_encoding(manifest.magenta_config, converter),
    )


def export_onnx_decoder(bundle_dir: Path, manifest: ModelManifest) -> OnnxDecoderSpec:
    """Writes ``bundle_dir/decoder.onnx`` from the bundle's checkpoint (atomically: a temp file
    renamed into place) and returns its manifest entry. Raises ``tf2onnx``'s errors for a graph
    it cannot convert."""
    import tf2onnx

    bundle_dir = Path(bundle_dir)
    frozen, inputs, output = _frozen_decoder(manifest, str(bundle_dir / manifest.checkpoint))
    model, _ = tf2onnx.convert.from_graph_def(
        frozen,
        input_names=list(inputs.values()),
        output_names=[output],
        opset=ONNX_OPSET,
        custom_op_handlers={"StatelessMultinomial": (_multinomial, [])},
    )
    _rename_io(
        model, {**{tf_name: name for name, tf_name in inputs.items()}, output: DECODER_OUTPUT}
    )
    spec = decoder_spec(manifest)
    controls = spec.input(DECODER_CONTROLS)
    factored = _factor_first_layer(
        model,
        depth=int(spec.output.shape[2]),
        z_size=manifest.z_size,
        control_depth=int(controls.shape[1]) if controls is not None else 0,
    )
    dropped = _drop_dead_arithmetic(model)
    target = bundle_dir / spec.file
    write_atomic(target, model.SerializeToString(), mode=SHARED_FILE_MODE)
    log.info(
        "export.onnx_decoder",
        bundle=str(bundle_dir),
        file=spec.file,
        opset=spec.opset,
        bytes=target.stat().st_size,
        first_layer_factored=factored,
        operators_dropped=dropped,
    )
    return spec


def _rename_io(model: Any, names: dict[str, str]) -> None:
    """Gives the graph's inputs and outputs the manifest's names (tf2onnx keeps TF's ``z:0``),
    also where the decode loop's body graph reads them."""

    def rename(graph: Any) -> None:
        for value in [*graph.input, *graph.output]:
            if value.name in names:
                value.name = names[value.name]
        for node in graph.node:
            for i, name in enumerate(node.input):
                if name in names:
                    node.input[i] = names[name]
            for i, name in enumerate(node.output):
                if name in names:
                    node.output[i] = names[name]
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    rename(attribute.g)
                for subgraph in attribute.graphs:
                    rename(subgraph)

    rename(model.graph)


def _factor_first_layer(model: Any, *, depth: int, z_size: int, control_depth: int) -> bool:
    """Rewrites the decode loop's first LSTM layer product ``[sample, z, chord, h] @ W`` as
    ``gather(W_sample, argmax sample) * max(sample) + z @ W_z (before the loop) + chord @ W_chord
    + h @ W_h`` (module docstring). ``max(sample)`` is 0 at the first step, whose "previous
    sample" is all zeros. Returns False, leaving the graph as it is, when the graph is not the
    one this expects."""
    from onnx import helper, numpy_helper

    graph = model.graph
    loops = [n for n in graph.node if n.op_type == "Loop"]
    if len(loops) != 1:
        return False
    loop = loops[0]
    body = next(a.g for a in loop.attribute if a.name == "body")
    produced = {out: node for node in body.node for out in node.output}
    initializers = {i.name: i for i in graph.initializer}
    body_inputs = [i.name for i in body.input]
    for matmul in body.node:
        if matmul.op_type != "MatMul" or matmul.input[1] not in initializers:
            continue
        concat = produced.get(matmul.input[0])
        if concat is None or concat.op_type != "Concat" or len(concat.input) != 2:
            continue
        x, h = concat.input
        if x not in body_inputs or h not in body_inputs:
            continue
        # The loop carries x to the next step as concat(sample, z[, chord row]); the body's
        # inputs are (iteration, condition, carried...), its outputs (condition, carried...).
        carried = produced.get(body.output[body_inputs.index(x) - 1].name)
        while carried is not None and carried.op_type == "Identity":
            carried = produced.get(carried.input[0])
        if carried is None or carried.op_type != "Concat" or carried.input[1] != DECODER_Z:
            continue
        kernel = numpy_helper.to_array(initializers[matmul.input[1]])
        hidden = kernel.shape[0] - depth - z_size - control_depth
        if hidden <= 0 or len(carried.input) != 2 + bool(control_depth):
            continue
        break
    else:
        return False

    prefix = "factored_first_layer/"
    bounds = np.cumsum([0, depth, z_size, control_depth, hidden])
    parts = {
        name: kernel[bounds[i] : bounds[i + 1]]
        for i, name in enumerate(("sample", "z", "chord", "h"))
        if bounds[i + 1] > bounds[i]
    }
    for name, value in parts.items():
        graph.initializer.append(numpy_helper.from_array(value, prefix + f"kernel_{name}"))
    axis = prefix + "axis"
    graph.initializer.append(numpy_helper.from_array(np.array([1], np.int64), axis))

    def ends(start: int, stop: int, tag: str) -> tuple[str, str]:
        names = (prefix + f"{tag}_start", prefix + f"{tag}_stop")
        graph.initializer.append(numpy_helper.from_array(np.array([start], np.int64), names[0]))
        graph.initializer.append(numpy_helper.from_array(np.array([stop], np.int64), names[1]))
        return names

    # z's product, once, before the loop (the body reads it from the outer scope).
    z_product = prefix + "z_product"
    graph.node.insert(
        list(graph.node).index(loop),
        helper.make_node("MatMul", [DECODER_Z, prefix + "kernel_z"], [z_product]),
    )
    start, stop = ends(0, depth, "sample")
    nodes = [
        helper.make_node("Slice", [x, start, stop, axis], [prefix + "sample"]),
        helper.make_node("ArgMax", [prefix + "sample"], [prefix + "index"], axis=1, keepdims=0),
        helper.make_node(
            "ReduceMax", [prefix + "sample"], [prefix + "present"], axes=[1], keepdims=1
        ),
        helper.make_node("Gather", [prefix + "kernel_sample", prefix + "index"], [prefix + "row"]),
        helper.make_node("Mul", [prefix + "row", prefix + "present"], [prefix + "sample_part"]),
        helper.make_node("Add", [prefix + "sample_part", z_product], [prefix + "sz"]),
        helper.make_node("MatMul", [h, prefix + "kernel_h"], [prefix + "h_part"]),
    ]
    total = prefix + "sz"
    if control_depth:
        start, stop = ends(depth + z_size, depth + z_size + control_depth, "chord")
        nodes += [
            helper.make_node("Slice", [x, start, stop, axis], [prefix + "chord"]),
            helper.make_node("MatMul", [prefix + "chord", prefix + "kernel_chord"], [prefix + "c"]),
            helper.make_node("Add", [total, prefix + "c"], [prefix + "szc"]),
        ]
        total = prefix + "szc"
    nodes.append(helper.make_node("Add", [total, prefix + "h_part"], [matmul.output[0]]))
    position = list(body.node).index(matmul)
    body.node.remove(matmul)
    if not any(concat.output[0] in n.input for n in body.node):
        body.node.remove(concat)
        position -= 1
    for offset, node in enumerate(nodes):
        body.node.insert(position + offset, node)
    # The whole kernel is now read by nobody: drop it, or the file would hold it twice.
    old = matmul.input[1]
    if not any(old in n.input for g in (graph, body) for n in g.node):
        graph.initializer.remove(initializers[old])
    return True


def _drop_dead_arithmetic(model: Any) -> int:
    """Removes from the decode loop's body ``y = x + m`` where ``m = a * 0`` (a zero constant;
    ``y``'s readers read ``x``, and ``m`` goes when nobody reads it) and ``Not(Not(b))`` (its
    readers read ``b``). Nothing the body returns is touched. Returns how many operators went.

    Written for tf2onnx's lowering of ``LSTMBlockCell``, where ``x`` is a gate's pre-activation
    ``[n, units]`` and ``m`` the peephole term ``c [n, units] * w [units]``: ``x`` already has
    ``y``'s shape, so reading ``x`` instead of ``y`` changes no shape (an ``x`` that only
    broadcast to ``y``'s shape would; the exported bundles' greedy decodes, equal to TF's in
    ``training/tests``, hold that)."""
    from onnx import numpy_helper

    graph = model.graph
    loops = [n for n in graph.node if n.op_type == "Loop"]
    if len(loops) != 1:
        return 0
    body = next(a.g for a in loops[0].attribute if a.name == "body")
    if any(a.HasField("g") or a.graphs for n in body.node for a in n.attribute):
        return 0  # a nested graph could read a value by name: rerouting would miss it
    constants = [*graph.initializer, *body.initializer]
    zeros = {c.name for c in constants if not numpy_helper.to_array(c).any()}
    returned = {o.name for o in body.output}

    def readers(name: str) -> list[Any]:
        return [n for n in body.node if name in n.input]

    def reroute(old: str, new: str) -> None:
        for node in body.node:
            for i, name in enumerate(node.input):
                if name == old:
                    node.input[i] = new

    dropped = 0
    for mul in [n for n in body.node if n.op_type == "Mul" and zeros.intersection(n.input)]:
        product = mul.output[0]
        if product in returned:
            continue
        for add in readers(product):
            if (
                add.op_type != "Add"
                or add.output[0] in returned
                or list(add.input).count(product) != 1
            ):
                continue
            reroute(add.output[0], next(x for x in add.input if x != product))
            body.node.remove(add)
            dropped += 1
        if not readers(product):
            body.node.remove(mul)
            dropped += 1
    for outer in [n for n in body.node if n.op_type == "Not"]:
        if outer not in body.node:  # went as the inner half of a pair already
            continue
        inner = next(
            (n for n in body.node if n.op_type == "Not" and n.output[0] == outer.input[0]), None
        )
        if inner is None or {outer.output[0], inner.output[0]} & returned:
            continue
        if len(readers(inner.output[0])) != 1:
            continue
        reroute(outer.output[0], inner.input[0])
        body.node.remove(outer)
        body.node.remove(inner)
        dropped += 2
    return dropped


def add_onnx_decoder(bundle_dir: Path) -> ModelManifest:
    """(Re-)exports the ONNX decoder of an existing bundle from its checkpoint and rewrites its
    manifest at schema version 2 listing it; every other manifest field stays. The decoder file
    is written first and the manifest last, each atomically, so an interruption leaves the old,
    working bundle. Raises ``ModelBundleError`` naming a broken bundle file."""
    bundle_dir = Path(bundle_dir)
    manifest = load_manifest(bundle_dir)
    check_model_bundle(bundle_dir, manifest.model_copy(update={"decoder": None}))
    spec = export_onnx_decoder(bundle_dir, manifest)
    updated = manifest.model_copy(
        update={"schema_version": MANIFEST_SCHEMA_VERSION, "decoder": spec}
    )
    write_manifest(bundle_dir, ModelManifest.model_validate(updated.model_dump()))
    return updated
