"""Attacks and adversarial training on a trained bundled-digits model: FGSM and PGD lower the
accuracy, the perturbation keeps to its budget and range, the gradient is the one keras.layers
gives, and adversarial training buys robustness."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import layers
from adversarial_runs import adversarial, held_out_batch, standard
from pipelines.extensions.attacks import Attack, input_gradient, perturb
from serving.formats.native import keras_layers_twin


def _accuracy(model, x, labels):
    return float(np.mean(np.argmax(model.predict(x, verbose=0, batch_size=256), -1) == labels))


def _perturb(model, x, labels, attack, seed=0):
    return perturb(lambda batch: model(batch, training=False), x, labels, attack, 0.0, 255.0,
                   keras.random.SeedGenerator(seed)).numpy()


@pytest.fixture(scope="module")
def trained():
    pipeline, run, _ = standard()
    x, labels = held_out_batch(pipeline, run)
    return run.model, x, labels


def test_fgsm_lowers_accuracy_and_pgd_lowers_it_at_least_as_much(trained):
    model, x, labels = trained
    clean = _accuracy(model, x, labels)
    fgsm = _accuracy(model, _perturb(model, x, labels, Attack("fgsm", 25.5)), labels)
    pgd = _accuracy(model, _perturb(model, x, labels, Attack("pgd", 25.5, steps=10)), labels)
    assert clean > 0.9
    assert fgsm < clean - 0.2, (clean, fgsm)
    assert pgd <= fgsm, (fgsm, pgd)


@pytest.mark.parametrize("norm, epsilon", [("inf", 25.5), ("2", 400.0)])
def test_perturbation_stays_within_epsilon_and_the_input_range(trained, norm, epsilon):
    model, x, labels = trained
    x = x[:64]
    adversarial = _perturb(model, x, labels[:64], Attack("pgd", epsilon, norm, steps=5, random_start=True))
    delta = (adversarial - x).reshape(len(x), -1)
    size = np.abs(delta).max(axis=1) if norm == "inf" else np.linalg.norm(delta, axis=1)
    assert size.max() <= epsilon * (1 + 1e-5)
    assert size.max() > 0.9 * epsilon  # the budget is used, not ignored
    assert adversarial.min() >= 0.0 and adversarial.max() <= 255.0
    assert x.min() == 0.0 and x.max() == 255.0  # so clipping had work to do


def test_fgsm_perturbation_equals_the_keras_layers_network(trained):
    model, x, labels = trained
    twin, kept = keras_layers_twin(model)  # the same network on keras.layers, weights copied
    assert not kept and any(isinstance(layer, layers.Conv2D) for layer in model.layers)
    x, labels = tf.constant(x[:128]), labels[:128]
    ours = input_gradient(lambda batch: model(batch, training=False), x, labels).numpy()
    theirs = input_gradient(lambda batch: twin(batch, training=False), x, labels).numpy()
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, atol=1e-4 * scale)
    attack = Attack("fgsm", 25.5)
    mine, reference = _perturb(model, x, labels, attack), _perturb(twin, x, labels, attack)
    differ = mine != reference
    assert differ.mean() < 1e-3  # only where the gradient is ~0 may rounding flip a sign
    assert np.all(np.abs(theirs[differ]) < 1e-4 * scale)


def test_adversarial_training_raises_robust_accuracy():
    robust = {}
    for name, trained_run in (("standard", standard), ("adversarial", adversarial)):
        pipeline, run, _ = trained_run()
        x, labels = held_out_batch(pipeline, run)
        robust[name] = _accuracy(run.model, _perturb(run.model, x, labels, Attack("pgd", 25.5, steps=10)), labels)
    assert robust["adversarial"] > robust["standard"] + 0.1, robust
