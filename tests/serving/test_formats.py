"""LiteRT and ONNX exports (serving/formats): for every pipeline that can go to a format, the file
gives model.keras's probabilities on real held-out examples of its bundled data, from the raw
served input (so dropping the preprocessing fails), with the class names in class-id order
beside it (so reordering them fails); it loads and predicts in a fresh process where only the
runtime is importable; int8 keeps digits' accuracy, and the 3D pipelines' quantized files run;
the rest are refused in one line naming the ops. Models: digits trained 1 epoch; the others
untrained with seeded weights (parity needs no training, and the slow pipelines stay fast)."""
import json
import pathlib

import numpy as np
import pytest

import tflite_graph
from factories import make_pipeline, train_bundled
from isolated import run_without_project
from serving_exports import TINY

FLOAT_TOLERANCE = 1e-4  # float32 formats: probabilities within this of model.keras (measured <= 2e-7)
INT8_ACCURACY_DROP = 0.07  # int8 against float on digits' 16 held-out examples: at most one answer changes
PARITY = [("digits", "litert"), ("digits", "onnx"), ("objects", "litert"), ("objects", "onnx"),
          ("audio", "litert"), ("audio", "onnx"), ("volumes", "litert"), ("volumes", "onnx"),
          ("segment", "litert"), ("segment", "onnx"), ("volumes-recipe", "litert"), ("volumes-recipe", "onnx")]
# the adrenalmnist3d recipe's in-model layers: the mask-depth channel's erosions and the flip averaging
# over all three axes (the flips of D and W as one REVERSE_V2 failed in LiteRT)
VARIANTS = {"volumes-recipe": ("volumes", [*TINY["volumes"], "mask_depth=3", "tta_flips=true", "flip_axes=0,1,2"])}
REFUSED = {("text", "litert"): "StringLower", ("text", "onnx"): "StringSplitV2"}
EXAMPLES = 16


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """name -> (pipeline, Keras model, class names, held-out served inputs, their labels, training
    inputs), each built once; `.digits_run()`: the folder of the trained digits run."""
    import keras

    from pipelines.core import sources
    from serving import warmup

    root = tmp_path_factory.mktemp("formats")
    built = {}

    def case(name):
        if name not in built:
            pipeline_name, settings = VARIANTS[name] if name in VARIANTS else (name, TINY[name])
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("CNN_SUITE_DATA", str(root / "cache"))  # generated data sets go here
                if name == "digits":
                    # all of the training split: the quantization checks want the best one-epoch model
                    pipeline, run, _ = train_bundled(name, root / name, ["epochs=1", "validation_fraction=0",
                                                                          *TINY[name]])
                    model, splits = run.model, run.splits
                    built["digits run"] = run.run_dir
                else:
                    pipeline = make_pipeline(pipeline_name, *settings)
                    splits = sources.load_splits(pipeline, "bundled")
                    keras.utils.set_random_seed(0)
                    model = pipeline.build_model(len(splits.class_names))
                held_out = splits.test.take(np.arange(min(EXAMPLES, len(splits.test))))
                inputs = warmup.served_examples(pipeline, held_out, EXAMPLES)
                built[name] = (pipeline, model, list(splits.class_names), inputs, np.asarray(held_out.labels),
                               warmup.served_examples(pipeline, splits.train, 300))
        return built[name]

    case.digits_run = lambda: (case("digits"), built["digits run"])[1]  # the trained run's folder
    return case


@pytest.fixture(scope="module")
def exported(cases, tmp_path_factory):
    """(name, format, quantize) -> export folder, each converted once."""
    from serving import formats

    root = tmp_path_factory.mktemp("exports")
    done = {}

    def export(name, format, quantize="none"):
        if (name, format, quantize) not in done:
            pipeline, model, class_names, _, _, train = cases(name)
            done[name, format, quantize] = formats.export(
                model, pipeline, class_names, root, format, quantize, representative=train,
                name=f"{name}-{format}-{quantize}")
        return done[name, format, quantize]

    return export


@pytest.mark.parametrize("name,format", PARITY)
def test_the_file_gives_model_keras_probabilities_from_the_raw_input(cases, exported, name, format):
    from serving.formats import runtime

    pipeline, model, class_names, inputs, _, _ = cases(name)
    path = exported(name, format)
    assert sorted(p.name for p in path.iterdir()) == sorted(
        ["class_names.txt", "cnn_suite.json", {"litert": "model.tflite", "onnx": "model.onnx"}[format]])
    loaded = runtime.Export(path)
    expected = np.asarray(model(inputs, training=False), np.float32)
    got = loaded(inputs)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=FLOAT_TOLERANCE, rtol=0)
    assert loaded.class_names == class_names  # class-id order: label i is line i
    metadata = json.loads((path / "cnn_suite.json").read_text())
    assert (metadata["pipeline"], metadata["format"], metadata["input"]) == (pipeline.name, format, pipeline.input_name)
    # the runtime's own convolution and pooling (serving/formats/native.py); LiteRT's 3D pooling
    # as two 2D poolings (it has no 3D pooling builtin)
    kernels = metadata["kernels"]
    assert kernels["native"] and kernels["checked_max_difference"] <= FLOAT_TOLERANCE
    assert kernels["ours"] == []
    assert ("MaxPooling3DBy2D" in kernels["native"]) == (format == "litert" and pipeline.name in ("volumes", "segment"))
    if name == "digits":  # raw pixels 0..255 in; the file scales them itself
        assert inputs.max() > 1
        assert not np.allclose(loaded(inputs / 255.0), got, atol=1e-2)
    if name == "audio":  # raw waveforms of any length in; the file crops or pads them, then takes the log-mel
        assert inputs.ndim == 2
        shorter = inputs[:, :inputs.shape[1] * 3 // 4]
        np.testing.assert_allclose(loaded(shorter), model(shorter, training=False), atol=FLOAT_TOLERANCE, rtol=0)
        assert not np.allclose(loaded(shorter), got, atol=1e-3)


@pytest.mark.parametrize("name,format", PARITY)
def test_the_file_runs_where_only_its_runtime_is_installed(cases, exported, name, format, tmp_path):
    """A fresh interpreter with ai_edge_litert or onnxruntime and NumPy, without the project
    (and without TensorFlow loaded), gives model.keras's classes."""
    pipeline, model, class_names, inputs, _, _ = cases(name)
    path = exported(name, format)
    np.save(tmp_path / "inputs.npy", inputs)
    if format == "litert":
        call = ("from ai_edge_litert.interpreter import Interpreter\n"
                f"runner = Interpreter(model_path={str(path / 'model.tflite')!r}).get_signature_runner()\n"
                f"out = runner({pipeline.input_name}=x)['probabilities']\n")
    else:
        call = ("import onnxruntime\n"
                f"session = onnxruntime.InferenceSession({str(path / 'model.onnx')!r})\n"
                f"out = session.run(['probabilities'], {{{pipeline.input_name!r}: x}})[0]\n")
    script = ("import sys, numpy as np\n"
              f"x = np.load({str(tmp_path / 'inputs.npy')!r})\n" + call +
              "assert 'tensorflow' not in sys.modules, 'the runtime pulled in TensorFlow'\n"
              f"names = open({str(path / 'class_names.txt')!r}).read().splitlines()\n"
              "print(' '.join(names[i] for i in out.argmax(-1).ravel()))\n")
    result = run_without_project(script, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = np.asarray(model(inputs, training=False)).argmax(-1).ravel()
    answers = result.stdout.split()
    assert len(answers) == expected.size
    # float32 in both: the same class wherever model.keras's top two are not a near tie
    top = np.sort(np.asarray(model(inputs, training=False)), -1).reshape(-1, len(class_names))
    clear = (top[:, -1] - top[:, -2]) > 1e-3
    assert clear.mean() > 0.5
    assert [a for a, c in zip(answers, clear) if c] == [class_names[i] for i, c in zip(expected, clear) if c]


@pytest.mark.parametrize("quantize", ["dynamic", "float16", "int8"])
def test_quantized_litert_keeps_digits_accuracy(cases, exported, quantize):
    from serving.formats import runtime

    _, model, _, inputs, labels, _ = cases("digits")
    path = exported("digits", "litert", quantize)
    float_size = (exported("digits", "litert") / "model.tflite").stat().st_size
    assert (path / "model.tflite").stat().st_size < float_size
    assert json.loads((path / "cnn_suite.json").read_text())["quantize"] == quantize
    expected = np.asarray(model(inputs, training=False))
    got = runtime.Export(path)(inputs)
    accuracy = float(np.mean(expected.argmax(-1) == labels))
    assert float(np.mean(got.argmax(-1) == labels)) >= accuracy - INT8_ACCURACY_DROP
    assert float(np.mean(got.argmax(-1) == expected.argmax(-1))) >= 1 - INT8_ACCURACY_DROP
    assert np.abs(got - expected).max() < (0.1 if quantize == "int8" else 0.01)


# (segment's float16 and dynamic: as volumes')
@pytest.mark.parametrize("name,quantize", [("volumes", "dynamic"), ("volumes", "float16"), ("volumes", "int8"),
                                           ("segment", "int8"), ("volumes-recipe", "int8")])
def test_quantized_litert_runs_the_3d_pipelines(cases, exported, name, quantize):
    """Their 3D pooling is LiteRT's 2D pooling (serving/formats/pool3d.py): int8 converts (our
    pooling's 6-D slices did not) and each quantization runs near model.keras (untrained models:
    near-uniform probabilities, so the classes are not compared)."""
    from serving.formats import runtime

    _, model, _, inputs, _, _ = cases(name)
    path = exported(name, "litert", quantize)
    assert json.loads((path / "cnn_suite.json").read_text())["quantize"] == quantize
    expected = np.asarray(model(inputs, training=False))
    got = runtime.Export(path)(inputs)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < (0.1 if quantize == "int8" else 0.01)


def test_the_recipes_mask_depth_and_flips_are_litert_builtins(cases, exported):
    """The erosions are minima of shifted slices (no Flex MaxPool3D), each flip reverses one axis
    (the converter may merge adjacent ones; the parity above runs them), and the network inside the
    flip averaging is the runtime's own. The depth channel is not empty on these inputs, so the
    parity above covers it."""
    import keras

    _, model, _, inputs, _, _ = cases("volumes-recipe")
    ops = [name for name, _ in tflite_graph.operators(exported("volumes-recipe", "litert"))]
    assert "CUSTOM" not in ops and "DELEGATE" not in ops
    assert "REVERSE_V2" in ops and ops.count("MINIMUM") == 3 * 2 * 2  # 2 erosions of 3 axes, 2 minima each
    assert ops.count("CONV_3D") == 3 * 8  # 3 convolutions in each of the 8 flips' networks
    assert json.loads((exported("volumes-recipe", "litert") / "cnn_suite.json").read_text())["kernels"]["native"] \
        == {"Conv3D": 3, "GlobalAveragePooling3D": 1, "GlobalMaxPooling3D": 1, "MaxPooling3DBy2D": 1}
    depth = np.asarray(keras.Model(model.inputs, model.get_layer("mask_depth").output)(inputs))
    assert 0 < depth.mean() < 1 and (depth == 1).any()  # voxels 3 erosions deep, and the rest


def test_a_run_folder_exports_with_int8_calibrated_on_its_training_split(cases, tmp_path):
    """What `cnn export RUN --format litert --quantize int8` calls."""
    from serving import formats
    from serving.formats import runtime

    _, model, class_names, inputs, _, _ = cases("digits")
    run_dir = cases.digits_run()
    path = formats.export_run(run_dir, tmp_path, "litert", "int8")
    assert path == tmp_path / "digits-litert" / "1"
    metadata = json.loads((path / "cnn_suite.json").read_text())
    assert metadata["run_dir"] == str(pathlib.Path(run_dir).resolve()) and metadata["quantize"] == "int8"
    loaded = runtime.Export(path)
    assert loaded.class_names == class_names
    expected = np.asarray(model(inputs, training=False))
    assert np.abs(loaded(inputs) - expected).max() < 0.1


def test_a_run_whose_training_data_is_gone_is_refused_and_nothing_is_written(cases, tmp_path):
    """The twin is checked on the run's own training split: without it, one line naming the run
    and the unreadable source, and no export folder."""
    import shutil

    from serving import formats

    run_dir = tmp_path / "moved-run"
    shutil.copytree(cases.digits_run(), run_dir)
    record = json.loads((run_dir / "config.json").read_text())
    record["data"] = str(tmp_path / "gone")
    (run_dir / "config.json").write_text(json.dumps(record))
    with pytest.raises(ValueError) as error:
        formats.export_run(run_dir, tmp_path / "exports", "onnx")
    message = str(error.value)
    assert message.startswith(f"{run_dir}: the run's training data cannot be read to check the file against "
                              "model.keras")
    assert "gone" in message and "\n" not in message
    assert not (tmp_path / "exports").exists()


@pytest.mark.parametrize("name,format", sorted(REFUSED))
def test_a_pipeline_that_cannot_go_to_a_format_is_refused_in_one_line(cases, name, format):
    from serving import formats

    pipeline, model, class_names, _, _, _ = cases(name)
    with pytest.raises(formats.Refused) as refused:
        formats.convert(model, pipeline, format)
    message = str(refused.value)
    assert "\n" not in message and REFUSED[name, format] in message
    assert message.startswith(f"{name} cannot go to ") and "saved_model" in message


def tensor_types(path, op_name):
    """The output tensor types ("FLOAT32", "INT8", ...) of every `op_name` op of export `path`'s .tflite."""
    return [kind for name, kind in tflite_graph.operators(path) if name == op_name]


def test_audio_int8_keeps_the_log_mel_in_float_and_runs_on_silent_and_quiet_clips(cases, exported):
    """int8 quantizes the network, not the raw-input preprocessing: quantized, the standardisation's
    divisor became zero on quiet clips and LiteRT's int8 DIV failed at run time (and the log-mel
    lost all but its loudest bins)."""
    from serving.formats import runtime

    pipeline, model, _, inputs, _, _ = cases("audio")
    path = exported("audio", "litert", "int8")
    assert tensor_types(path, "LOG") == tensor_types(path, "DIV") == ["FLOAT32"]  # the log-mel, the standardisation
    assert set(tensor_types(path, "CONV_2D")) == {"INT8"}  # the network
    layers = json.loads((path / "cnn_suite.json").read_text())["float32_layers"]
    assert "log_mel" in layers and "standardize" in layers
    samples = inputs.shape[1]
    noise = np.random.default_rng(0).normal(size=samples)
    quiet = np.stack([np.zeros(samples), 1e-5 * noise, 1e-3 * noise, np.full(samples, 1e-4),
                      1e-4 * np.sin(np.arange(samples) * 0.7)]).astype(np.float32)
    loaded = runtime.Export(path)
    for batch in (quiet, inputs):
        got, expected = loaded(batch), np.asarray(model(batch, training=False))
        assert np.isfinite(got).all()
        assert np.abs(got - expected).max() < 0.1


def test_a_file_that_fails_at_run_time_is_refused_and_nothing_is_written(tmp_path, monkeypatch):
    """A reverse of two non-adjacent axes converts to LiteRT, but its REVERSE_V2 kernel refuses it
    when it runs: the export runs the file on its training examples first."""
    import keras
    import tensorflow as tf

    from pipelines.core import sources
    from serving import formats, warmup

    class ReversedOuterAxes(keras.layers.Layer):  # (N, D, H, W, C): D and W reversed in one op
        def call(self, x):
            return tf.reverse(x, [1, 3])

    monkeypatch.setenv("CNN_SUITE_DATA", str(tmp_path / "cache"))
    pipeline = make_pipeline("volumes", *TINY["volumes"])
    splits = sources.load_splits(pipeline, "bundled")
    keras.utils.set_random_seed(0)
    network = pipeline.build_model(len(splits.class_names))
    inputs = keras.Input(network.input.shape[1:], name=pipeline.input_name)
    model = keras.Model(inputs, network(ReversedOuterAxes()(inputs)))
    with pytest.raises(formats.Refused) as refused:
        formats.export(model, pipeline, list(splits.class_names), tmp_path / "exports", "litert",
                       representative=warmup.served_examples(pipeline, splits.train, 8))
    message = str(refused.value)
    assert message.startswith("volumes: the litert file converts but fails at run time") and "\n" not in message
    assert "REVERSE_V2" in message and "saved_model" in message
    assert not any((tmp_path / "exports").rglob("model.tflite"))


def test_the_checks_run_large_inputs_a_few_at_a_time():
    """The twin check and the run in the runtime call 32 examples at a time, fewer of whole 3D
    volumes: LiteRT ran Hippocampus's U-Net on 32 of them in 18 GB, on 5 in 3.6 GB."""
    from serving import formats

    assert formats.check_batch(np.zeros((300, 28, 28), np.uint8)) == 32
    assert formats.check_batch(np.zeros((64, 16000), np.float32)) == 16
    assert formats.check_batch(np.zeros((104, 32, 48, 32, 1), np.float32)) == 5
    assert formats.check_batch(np.zeros((2, 128, 128, 128), np.float32)) == 1


def test_options_are_checked_before_converting():
    from serving import formats

    with pytest.raises(ValueError, match="only for --format litert"):
        formats.check("onnx", "int8", [1])
    with pytest.raises(ValueError, match="needs training examples"):
        formats.check("litert", "int8", None)
    with pytest.raises(ValueError, match="expected one of saved_model, litert, onnx"):
        formats.check("coreml")


def test_a_version_is_written_whole_and_never_overwritten(tmp_path):
    from serving import formats

    first = formats.write_version(tmp_path / "m", {"model.onnx": b"one", "class_names.txt": b"a\nb\n"})
    second = formats.write_version(tmp_path / "m", {"model.onnx": b"two"})
    assert (first.name, second.name) == ("1", "2") and (first / "model.onnx").read_bytes() == b"one"
    with pytest.raises(ValueError, match="never overwritten"):
        formats.write_version(tmp_path / "m", {"model.onnx": b"three"}, version=1)
    assert (first / "model.onnx").read_bytes() == b"one"
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1", "2"]  # no temporary folder left
