"""'Did you mean' hints for unknown names (pipelines, recipes, --set keys, methods)."""
import difflib


def did_you_mean(word, options):
    """"; did you mean 'x'?" for the closest of `options` to `word`, else "" (nothing close)."""
    close = difflib.get_close_matches(str(word), [str(option) for option in options], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
