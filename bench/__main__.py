"""Run the benchmarks: `python -m bench [NAME...]` (default: all).

Each module bench/<name>.py defines `run(argv) -> str`, which performs its measurements and
returns a Markdown section; the sections are printed and written to bench/results/<name>.md
for docs/BENCHMARKS.md.
"""
import importlib
import pathlib
import pkgutil
import sys

RESULTS = pathlib.Path(__file__).parent / "results"


def main(argv):
    names = [a for a in argv if not a.startswith("-")]
    available = sorted(m.name for m in pkgutil.iter_modules([str(pathlib.Path(__file__).parent)]))
    unknown = set(names) - set(available)
    if unknown:
        sys.exit(f"Unknown benchmark(s): {', '.join(sorted(unknown))}. Available: {', '.join(available)}.")
    RESULTS.mkdir(exist_ok=True)
    for name in names or available:
        module = importlib.import_module(f"bench.{name}")
        print(f"== bench {name}", flush=True)
        section = module.run([a for a in argv if a.startswith("-")])
        (RESULTS / f"{name}.md").write_text(section)
        print(section, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
