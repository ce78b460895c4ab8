"""optimize.method: 2:4 sparsity, clustering, CQAT/PCQAT — what each promises, checked in the model and the file."""

import json
import shutil

import numpy as np
import pytest

from conftest import TINY_SETTINGS, card_json
from lepton_tf import Run
from lepton_tf.cli import main
from lepton_tf.config import load, optimize_chain
from lepton_tf.config import ModelConfig
from lepton_tf.errors import ConfigError
from lepton_tf.export import weights
from lepton_tf.export.tflite import convert
from lepton_tf.keras import keras
from lepton_tf.models import build_model
from lepton_tf.optimize import cluster, prune, qat
from lepton_tf.optimize.fold import fold_batch_norms

RNG = np.random.default_rng(1)
X = RNG.normal(size=(32, 12, 12, 3)).astype("float32")
Y = keras.utils.to_categorical(RNG.integers(0, 3, 32), 3)
CLUSTERS = 8
CHANNEL_CLUSTERS = 4  # the tiny model's channels hold 27 to 288 weights


def fit(model, epochs, callbacks=()):
    model.compile(keras.optimizers.SGD(0.01), "categorical_crossentropy")
    model.fit(X, Y, batch_size=8, epochs=epochs, verbose=0, callbacks=list(callbacks))
    return model


def tiny_model():
    return build_model(ModelConfig(width=4), "image", input_shape=(12, 12, 3), num_classes=3)


def test_each_method_makes_its_chain_of_stages():
    def chain(*settings):
        return optimize_chain(load(None, list(settings)))

    assert chain() == ["float", "pruned", "qat"]
    assert chain("optimize.sparsity=0") == ["float", "qat"]
    assert chain("optimize.method=2to4", "optimize.sparsity=0") == ["float", "pruned", "qat"]
    assert chain("optimize.method=cluster") == ["float", "clustered", "qat"]
    assert chain("optimize.method=pcqat") == ["float", "pruned", "clustered", "qat"]
    assert chain("optimize.method=pcqat", "optimize.skip_quantize=true") == ["float", "pruned", "clustered"]
    assert chain("optimize.method=xnnpack_sparse") == ["float", "pruned"]  # a float path: no QAT


def test_two_four_masks_hold_in_the_stripped_model_and_the_int8_file():
    model = tiny_model()
    assert weights.m_by_n_violations(convert(model, "int8", X[:16])), "a dense model must fail the check"
    pruned = fit(prune.prune_model(model, 0.5, end_step=8, m_by_n=(2, 4)), 2, prune.pruning_callbacks())
    stripped = prune.strip(pruned)
    assert prune.m_by_n_violations(stripped, (2, 4)) == []
    assert prune.measure_sparsity(stripped)[0] >= 0.45
    quantized = fit(qat.quantize_for_training(fold_batch_norms(stripped)[0], preserve_sparsity=True), 2)
    assert prune.m_by_n_violations(quantized, (2, 4)) == []
    content = convert(quantized, "int8", X[:16])
    assert weights.m_by_n_violations(content) == []
    assert weights.describe(content)["two_four"] and weights.describe(content)["zeros"] >= 0.45


def clustered_values_in_file(content, names):
    """{clustered layer: the most distinct values one output channel of its int8 kernel holds}."""
    per_channel = weights.values_per_channel(content)
    found = {name: [values for kernel, values in per_channel.items() if f"{name}/" in kernel] for name in names}
    assert all(found.values()), f"kernels missing from the file: {found} in {list(per_channel)}"
    return {name: max(values) for name, values in found.items()}


def test_cluster_counts_and_zeros_survive_pcqat_into_the_int8_file():
    keras.utils.set_random_seed(0)
    dense = tiny_model()
    assert max(weights.values_per_channel(convert(dense, "int8", X[:16])).values()) > CLUSTERS
    pruned = prune.strip(fit(prune.prune_model(dense, 0.5, end_step=8), 3, prune.pruning_callbacks()))
    folded, _ = fold_batch_norms(pruned)
    wrapped = fit(cluster.cluster_model(folded, CLUSTERS, preserve_sparsity=True), 2)
    names = cluster.clustered_layer_names(wrapped)
    assert len(names) >= 7, names
    clustered = cluster.strip(wrapped)
    counts = cluster.cluster_counts(clustered, names)
    assert set(counts) == set(names) and max(counts.values()) <= CLUSTERS
    assert prune.measure_sparsity(clustered)[0] >= 0.45
    quantized = fit(qat.quantize_for_training(clustered, preserve_sparsity=True, preserve_clusters=True), 2)
    content = convert(quantized, "int8", X[:16])
    assert max(clustered_values_in_file(content, names).values()) <= CLUSTERS
    assert weights.describe(content)["zeros"] >= 0.45


def test_cqat_clusters_convolutions_per_channel_and_keeps_them_into_the_int8_file():
    keras.utils.set_random_seed(0)
    folded, _ = fold_batch_norms(fit(tiny_model(), 2))
    wrapped = fit(cluster.cluster_model(folded, CHANNEL_CLUSTERS, preserve_sparsity=False), 2)
    names = cluster.clustered_layer_names(wrapped)  # a channel with too few weights of a sign leaves its kernel out
    assert len(names) >= 7, names
    clustered = cluster.strip(wrapped)
    assert max(cluster.cluster_counts(clustered, names).values()) <= CHANNEL_CLUSTERS
    # Each channel has values of its own: whole kernels hold more than CHANNEL_CLUSTERS.
    assert any(np.unique(kernel).size > CHANNEL_CLUSTERS for name, kernel in prune.prunable_kernels(clustered)
               if name in names)
    quantized = fit(qat.quantize_for_training(clustered, preserve_clusters=True), 2)
    in_file = clustered_values_in_file(convert(quantized, "int8", X[:16]), names)
    assert max(in_file.values()) <= CHANNEL_CLUSTERS, in_file


@pytest.mark.slow  # about 2 minutes: prune → cluster → PCQAT → every export, through the CLI
def test_pcqat_through_the_command_line_rebuilds_and_reports_the_file(quantized_run, tmp_path):
    run_dir = shutil.copytree(quantized_run, tmp_path / "run")
    assert main(["quantize", str(run_dir), "--set", "optimize.method=pcqat", "--set", f"optimize.clusters={CLUSTERS}",
                 "--set", "optimize.cluster_epochs=1", "--set", "export.robustness_examples=2"]) == 0
    card = card_json(run_dir)
    assert set(card["stages"]) == {"float", "pruned", "clustered", "qat"}
    assert card["stages"]["qat"]["scheme"] == "Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True)"
    assert max(card["stages"]["clustered"]["layer_clusters"].values()) <= CLUSTERS
    int8 = card["artifacts"]["tflite/int8.tflite"]
    assert int8["source"] == "qat" and int8["weights"]["max_values_per_channel"] <= CLUSTERS
    assert int8["weights"]["zeros"] >= 0.45
    qat_model = Run.open(run_dir).folder.load_model("qat")  # rebuilt from the clustered model's clusters
    assert len(qat.quantized_layer_names(qat_model)) > 5
    # Back to the default method: the clustered stage is no longer made, so it is removed.
    assert main(["quantize", str(run_dir), "--set", "optimize.method=pqat", "--set", "export.robustness_examples=0"]) == 0
    assert "clustered" not in json.loads((run_dir / "model_card.json").read_text())["stages"]
    assert not (run_dir / "keras" / "clustered.weights.h5").exists()


def test_an_unknown_method_is_one_clear_error(quantized_run, tmp_path, capsys):
    run_dir = shutil.copytree(quantized_run, tmp_path / "run")
    assert main(["quantize", str(run_dir), "--set", "optimize.method=prune_everything"]) == 2
    assert "optimize.method" in capsys.readouterr().err


def mobilenet(size):
    return build_model(ModelConfig(name="mobilenet_v2", alpha=0.25), "image", input_shape=(size, size, 3),
                       num_classes=3)


@pytest.mark.parametrize("model", [tiny_model, lambda: mobilenet(32)], ids=["resnet", "mobilenet_v2_32px"])
def test_xnnpack_pruning_refuses_a_model_xnnpack_cannot_run_sparse(model):
    # resnet has 3x3 convolutions inside; a 32-px MobileNetV2 keeps a stride-1 stem.
    with pytest.raises(ConfigError, match="xnnpack_sparse cannot prune.*mobilenet_v2 on images larger than 64 px"):
        prune.prune_model(model(), 0.75, end_step=4, for_xnnpack=True)


def test_xnnpack_pruning_zeroes_only_1x1_convolutions_and_the_sparse_file_matches_the_dense_one():
    from ai_edge_litert.interpreter import Interpreter

    images = RNG.normal(size=(16, 72, 72, 3)).astype("float32")
    model = prune.prune_model(mobilenet(72), 0.75, end_step=2, for_xnnpack=True)
    model.compile(keras.optimizers.SGD(0.001), "categorical_crossentropy")
    model.fit(images, Y[:16], batch_size=8, epochs=2, verbose=0, callbacks=prune.pruning_callbacks())
    stripped = prune.strip(model)
    _, per_layer = prune.measure_sparsity(stripped)
    pointwise = {layer.name for layer in stripped.layers if type(layer) is keras.layers.Conv2D
                 and layer.kernel_size == (1, 1)}
    assert pointwise and all(per_layer[name] >= 0.74 for name in pointwise), per_layer
    assert all(per_layer[name] < 0.05 for name in set(per_layer) - pointwise), per_layer  # 3x3, depthwise, dense

    dense, sparse = convert(stripped, "float32"), convert(stripped, "float32_sparse")
    assert weights.sparse_tensors(dense) == 0 and weights.sparse_tensors(sparse) >= len(pointwise) // 2
    assert len(sparse) < 0.7 * len(dense)

    def outputs(content):
        interpreter = Interpreter(model_content=content)
        interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], images.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    np.testing.assert_allclose(outputs(sparse), outputs(dense), atol=1e-5)


@pytest.mark.slow  # about 4 minutes: MobileNetV2 at 72 px through train → quantize → six exports
def test_xnnpack_sparse_through_the_command_line_adds_the_sparse_float_file(image_folder, tmp_path):
    run_dir = tmp_path / "mobile"
    settings = [*TINY_SETTINGS, "data.image_size=72", "model.name=mobilenet_v2", "model.alpha=0.25",
                "train.epochs=1", "optimize.method=xnnpack_sparse", "optimize.sparsity=0.75",
                "optimize.prune_epochs=1", "export.robustness_examples=0", "export.mediapipe_examples=0"]
    sets = [arg for setting in settings for arg in ("--set", setting)]
    assert main(["train", str(run_dir), "--set", f"data.source={image_folder}", *sets]) == 0
    assert main(["quantize", str(run_dir), *sets]) == 0
    card = card_json(run_dir)
    assert set(card["stages"]) == {"float", "pruned"}
    assert card["stages"]["pruned"]["structure"] == "1x1 convolutions"
    sparse, dense = card["artifacts"]["tflite/float32_sparse.tflite"], card["artifacts"]["tflite/float32.tflite"]
    assert sparse["source"] == "pruned" and sparse["weights"]["sparse_tensors"] > 0
    assert sparse["bytes"] < dense["bytes"] and sparse["agreement"] == 1.0
    assert card["artifacts"]["tflite/int8.tflite"]["source"] == "pruned"  # post-training int8 of the pruned model
    assert "float32_sparse.tflite" in (run_dir / "MODEL_CARD.md").read_text()
