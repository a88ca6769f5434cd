"""digits and objects recipes: measured settings with their data layouts (pure data, no
TensorFlow; see pipelines/core/recipes.py). Results are copied from docs/BENCHMARKS.md."""
from pipelines.core.recipes import Recipe

# Wong et al. 2020's MNIST schedule (locuslab fast_adversarial, train_mnist.py): 10 epochs of batch
# 100, the learning rate rising to 5e-3 over 2/5 of training, no augmentation
WONG_SCHEDULE = ("image_size=28", "epochs=10", "batch_size=100", "learning_rate=5e-3",
                 "learning_rate_warmup_epochs=4", "dropout=0", "augment_shift=0")

RECIPES = (
    Recipe(
        name="digits-bundled",
        pipeline="digits",
        settings=(),
        data="bundled (scikit-learn's 8x8 digits, upscaled; 25% stratified hold-out)",
        result="99.78% test accuracy (450 images), 20 epochs at 16x16, 13 s",
        recorded="docs/BENCHMARKS.md, digits (2026-11-30 row)",
    ),
    Recipe(
        name="mnist",
        pipeline="digits",
        settings=("image_size=28", "epochs=10", "batch_size=128"),
        data="an MNIST IDX folder: train-/t10k-images-idx3-ubyte.gz and train-/t10k-labels-idx1-ubyte.gz "
             "(official 60,000 / 10,000 split)",
        result="99.48% test accuracy (10,000), 8.3 min on 2 shared cores",
        recorded="docs/BENCHMARKS.md, digits > MNIST (2026-11-30)",
    ),
    Recipe(
        name="mnist-robust",
        pipeline="digits",
        # PGD-5 training (Madry et al. 2018 with fewer steps) at 0.3 of the range on Wong et al.'s
        # schedule, epsilon ramped up over 2 epochs (at full epsilon from the start PGD-5 stayed at
        # chance for a whole epoch), guarded against catastrophic overfitting: meets the issue-16 target
        settings=WONG_SCHEDULE + ("adversarial=pgd", "adversarial_steps=5", "adversarial_epsilon=76.5",
                                  "adversarial_warmup_epochs=2", "adversarial_guard=0.2"),
        data="an MNIST IDX folder (official 60,000 / 10,000 split)",
        result="99.15% clean test accuracy (10,000), 93.15% PGD-20 at 76.5 (first 2,000), 59.0 min on 2 shared cores",
        recorded="docs/BENCHMARKS.md, adversarial robustness",
    ),
    Recipe(
        name="mnist-robust-fast",
        pipeline="digits",
        # fast FGSM (Wong et al. 2020) at 0.3 of the range on their schedule (learning rate rising
        # over 2/5 of training, no dropout or shifts): a third of the time, less robust
        settings=WONG_SCHEDULE + ("adversarial=fgsm", "adversarial_epsilon=76.5"),
        data="an MNIST IDX folder (official 60,000 / 10,000 split)",
        result="98.16% clean test accuracy (10,000), 80.85% PGD-20 at 76.5 (first 2,000), 19.6 min on 2 shared cores",
        recorded="docs/BENCHMARKS.md, adversarial robustness",
    ),
    Recipe(
        name="cifar10-resnet",
        pipeline="objects",
        settings=("network=resnet_cifar", "learning_rate=0.05", "epochs=40"),
        data="a folder train/<class>/*.jpg + test/<class>/*.jpg of CIFAR-10 "
             "(measured on 10,000 / 2,000 JPEGs, quality ~75)",
        result="76.85% test accuracy (2,000), 40 epochs, 46.8 min on 2 cores",
        recorded="docs/BENCHMARKS.md, objects",
    ),
    Recipe(
        name="cifar10-alexnet",
        pipeline="objects",
        settings=("network=alexnet_cifar", "learning_rate=0.01", "epochs=30"),
        data="a folder train/<class>/*.jpg + test/<class>/*.jpg of CIFAR-10",
        result="",  # the defaults before issue 12; never benchmarked here
    ),
    Recipe(
        name="shapes-resnet",
        pipeline="objects",
        settings=("network=resnet_cifar", "learning_rate=0.05", "epochs=15"),
        data="bundled (generated shapes on textures, 8 classes, 2,400 / 800)",
        result="",
    ),
    Recipe(
        name="shapes-alexnet",
        pipeline="objects",
        settings=("network=alexnet_cifar", "learning_rate=0.01", "epochs=15"),
        data="bundled (generated shapes on textures, 8 classes, 2,400 / 800)",
        result="",
    ),
)
