"""The text pipeline's bundled data: short movie reviews with sentiment, generated offline.

Why generated: the project ships no third-party text, and a generator costs no bytes. Why
these rules: the labels depend on word ORDER, not only on which words appear, so a bag of words
cannot solve it but a convolution over 2-5-grams (Kim 2014) can:

- negation flips a clause: "the acting was not great" is negative;
- contrast: in "the plot was dull , but the acting was superb" the clause after "but" decides,
  and in "although the plot was dull , the acting was superb" the main clause decides;
- intensifiers ("really", "truly"), neutral sentences ("we saw it on a sunday .") and
  positive/negative nouns that carry no label ("a war film", "a comedy") add noise;
- about 3 % of the labels are flipped, so 100 % accuracy means overfitting.

Every review is 1-3 sentences whose clause polarities agree (after negation and contrast),
so each label is well defined. Classes: `negative`, `positive`.
"""
from __future__ import annotations

import numpy as np

CLASS_NAMES = ("negative", "positive")

POSITIVE = ("great", "superb", "wonderful", "moving", "brilliant", "charming", "gripping",
            "delightful", "beautiful", "clever", "funny", "touching", "excellent", "engaging",
            "stunning", "fresh", "powerful", "witty", "memorable", "inventive", "solid", "lovely",
            "thoughtful", "riveting", "heartfelt", "sharp", "elegant", "vivid", "tender", "fun")
NEGATIVE = ("dull", "boring", "awful", "clumsy", "tedious", "bland", "predictable", "messy",
            "lifeless", "shallow", "forced", "silly", "weak", "flat", "tiresome", "stale",
            "painful", "pointless", "muddled", "wooden", "hollow", "sluggish", "trite", "lazy",
            "grating", "hackneyed", "tepid", "dreary", "incoherent", "bad")
NOUNS = ("plot", "acting", "script", "ending", "dialogue", "cast", "soundtrack", "pacing",
         "direction", "story", "cinematography", "score", "editing", "humour", "lead", "finale",
         "premise", "performances", "characters", "screenplay", "camera work", "third act")
INTENSIFIERS = ("really", "truly", "very", "quite", "remarkably", "thoroughly", "utterly")
GENRES = ("war film", "comedy", "horror movie", "romance", "thriller", "documentary", "musical",
          "crime drama", "western", "cartoon")
NEUTRAL = ("we saw it on a {day} .", "it runs about {n} minutes .", "it is a {genre} .",
           "i watched it with my {who} .", "the film came out in {year} .",
           "it was shown at the local cinema .", "the {genre} is set in a small town .")
DAYS = ("monday", "friday", "saturday", "sunday", "rainy evening")
WHO = ("sister", "friends", "parents", "kids", "roommate")
POS_VERBS = ("loved", "enjoyed", "admired", "liked")
NEG_VERBS = ("hated", "disliked", "regretted", "resented")


def _pick(rng, words):
    return words[int(rng.integers(len(words)))]


def _clause(rng, polarity):
    """A clause with the given polarity (+1/-1), possibly negated, e.g. 'the plot was not dull'."""
    noun = _pick(rng, NOUNS)
    verb = "were" if noun.endswith("s") and noun not in ("humour",) else "was"
    if rng.uniform() < 0.25:  # "i loved the plot" / "i did not enjoy the plot"
        if rng.uniform() < 0.3:
            return f"i did not {_pick(rng, ('like', 'enjoy', 'love', 'admire')) if polarity < 0 else _pick(rng, ('hate', 'dislike', 'mind'))} the {noun}"
        return f"i {_pick(rng, POS_VERBS if polarity > 0 else NEG_VERBS)} the {noun}"
    negate = rng.uniform() < 0.3
    adjective = _pick(rng, POSITIVE if (polarity > 0) != negate else NEGATIVE)
    intensity = f"{_pick(rng, INTENSIFIERS)} " if rng.uniform() < 0.3 and not negate else ""
    negation = _pick(rng, ("not ", "never ", "hardly ")) if negate else ""
    return f"the {noun} {verb} {negation}{intensity}{adjective}"


def _sentence(rng, polarity):
    """A sentence whose overall polarity is `polarity`."""
    form = rng.uniform()
    if form < 0.2:  # contrast: the second clause decides
        return f"{_clause(rng, -polarity)} , but {_clause(rng, polarity)} ."
    if form < 0.35:  # concession: the main clause decides
        return f"although {_clause(rng, -polarity)} , {_clause(rng, polarity)} ."
    if form < 0.45:
        return f"{_clause(rng, polarity)} and {_clause(rng, polarity)} ."
    return f"{_clause(rng, polarity)} ."


def _neutral(rng):
    return _pick(rng, NEUTRAL).format(day=_pick(rng, DAYS), n=int(rng.integers(80, 180)),
                                      genre=_pick(rng, GENRES), who=_pick(rng, WHO),
                                      year=int(rng.integers(1950, 2025)))


def review(rng, polarity):
    """1-3 sentences with the given polarity, neutral sentences mixed in."""
    sentences = [_sentence(rng, polarity) for _ in range(int(rng.integers(1, 3)))]
    if rng.uniform() < 0.4:
        sentences.insert(int(rng.integers(len(sentences) + 1)), _neutral(rng))
    return " ".join(sentences)


def generate(count, seed, label_noise=0.03):
    """(texts (N,) object array of str, labels (N,) int64 into CLASS_NAMES), balanced."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    rng.shuffle(labels)
    texts = np.asarray([review(rng, 1 if y else -1) for y in labels], dtype=object)
    flip = rng.uniform(size=count) < label_noise
    return texts, np.where(flip, 1 - labels, labels).astype(np.int64)
