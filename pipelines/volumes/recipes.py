"""volumes and segment recipes: measured settings with their data layouts (pure data, no
TensorFlow; see pipelines/core/recipes.py). Results are copied from docs/BENCHMARKS.md."""
from pipelines.core.recipes import Recipe

RECIPES = (
    Recipe(
        name="adrenalmnist3d",
        pipeline="volumes",
        # the volumes are binary masks (0/255): a window maps them to 0/1, and the mask-depth
        # channel gives each voxel's depth inside the gland
        settings=("shape=28,28,28", "filters=16,32,64", "flip_axes=0,1,2", "max_shift=2",
                  "batch_size=16", "learning_rate=0.001", "dropout=0.3", "tta_flips=true",
                  "normalization=window", "window=127.5,255", "mask_depth=5", "epochs=30"),
        data="an AdrenalMNIST3D .npz of 28x28x28 masks (train_images, train_labels); measured with "
             "--test-data an .npz of the official val split (test_images, test_labels), as bench/volumes.py does",
        result="val ROC AUC 0.8921 mean of seeds 0-3 (best 0.9031), 30 epochs",
        recorded="docs/BENCHMARKS.md, 3D volumes (2026-11-30, third session)",
    ),
    Recipe(
        name="hippocampus",
        pipeline="segment",
        settings=("shape=32,48,32", "base_filters=16", "depth=3", "batch_size=2", "crops_per_volume=2",
                  "learning_rate=0.002", "foreground_fraction=0.5", "flip_axes=0", "test_fraction=0.2",
                  "class_names=background,anterior,posterior", "epochs=10"),
        data="a Medical Segmentation Decathlon Task04 folder: imagesTr/X.nii.gz with labelsTr/X.nii.gz "
             "(dataset.json optional); 20% of the cases held out",
        result="whole-volume mean Dice 0.8801 (anterior 0.8909, posterior 0.8693), 10 epochs, 13.3 min",
        recorded="docs/BENCHMARKS.md, 3D volumes",
    ),
)
