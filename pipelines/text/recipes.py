"""text recipes: measured settings with their data layouts (pure data, no TensorFlow; see
pipelines/core/recipes.py). Results are copied from docs/BENCHMARKS.md."""
from pipelines.core.recipes import Recipe

SST2_LAYOUT = "an SST-2 folder: train.tsv, dev.tsv, test.tsv with columns sentence, label"

RECIPES = (
    Recipe(
        name="reviews-bundled",
        pipeline="text",
        settings=(),
        data="bundled (generated reviews, 4,000 / 1,000, 3% label noise)",
        result="96.30% test accuracy (1,000), 8 epochs, 104 s",
        recorded="docs/BENCHMARKS.md, text",
    ),
    Recipe(
        name="sst2",
        pipeline="text",
        settings=("text_column=sentence", "epochs=3"),
        data=SST2_LAYOUT,
        result="80.62% test accuracy (872 sentences = GLUE dev), Kim CNN-rand, 6.6 min",
        recorded="docs/BENCHMARKS.md, text",
    ),
    Recipe(
        name="sst2-minilm",
        pipeline="text",
        # the vector file is the user's (pretrained_vocabulary refuses to run without it)
        settings=("text_column=sentence", "standardize=lower", "sequence_length=56",
                  "embedding_dropout=0.0", "trainable_embeddings=false",
                  "pretrained_vocabulary=100000", "epochs=3"),
        data=f"{SST2_LAYOUT}; plus --set pretrained_embeddings=FILE, the MiniLM-derived 384-d "
             "word vectors that bench/text.py builds",
        result="82.11% test accuracy (872 sentences), Kim CNN-static, 7.8 min",
        recorded="docs/BENCHMARKS.md, text > Pre-trained word vectors (2026-11-30)",
    ),
)
