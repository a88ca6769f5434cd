"""`make mutate`: mutmut over each module group of mutation/modules.txt, against its own tests.

Why a driver: mutmut reads one `[tool.mutmut]` from the working directory's pyproject.toml and
keeps its mutants there, while each group needs its own files to mutate and its own tests. So
each group gets a folder `.mutants/<name>/` that links to the project's packages and tests,
holds that group's config, and keeps mutmut's results between runs (a rerun continues).

Usage: python -m mutation.run [NAME ...] [--minutes M] [--retest | --report]   (no names: every group)
Per group it prints killed / survived / other counts and the survivors' names; `mutmut show
NAME`, run in `.mutants/<name>/`, prints a survivor's diff. Never part of `make test`.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
TABLE = ROOT / "mutation" / "modules.txt"
WORK = ROOT / ".mutants"
# copied whole into each group's folder; only the group's files mutate
PACKAGES = ["layers", "networks", "pipelines", "datasets", "analysis", "serving", "cli.py"]
LINKED = [*PACKAGES, "tests", "docs"]  # docs: tests that run the examples docs/*.md hold


PRELOAD = ["tensorflow", "keras", "numpy", "sklearn.metrics", "PIL.Image", "matplotlib.pyplot", "h5py"]


def read_table(path=TABLE):
    """{name: (files to mutate, test paths, functions)} in table order (see the table's header)."""
    groups, current = {}, None
    for line in path.read_text().splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "group":
            current = groups[words[1]] = {"files": [], "tests": [], "functions": []}
        else:
            current[words[0]] += words[1:]
    return {name: (g["files"], g["tests"], g["functions"] or ["*"]) for name, g in groups.items()}


def mutant_patterns(mutated, functions):
    """mutmut's mutant-name globs for `functions` of the files (`module.x_function__mutmut_N`,
    `module.xǁClassǁmethod__mutmut_N`); [] for every function."""
    if functions == ["*"]:
        return []
    modules = [path.removesuffix(".py").replace("/", ".") for path in mutated]
    names = ["xǁ" + "ǁ".join(f.split(".")) if "." in f else f"x_{f}" for f in functions]
    return [f"{module}.{name}__mutmut_*" for module in modules for name in names]


def _toml_list(values):
    return "[" + ", ".join(json.dumps(str(v)) for v in values) + "]"


def config_text(mutated, tests):
    """The group's pyproject.toml: mutmut's settings, and the project's pytest settings."""
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    lines = ["[tool.mutmut]", f"source_paths = {_toml_list(PACKAGES)}", f"only_mutate = {_toml_list(mutated)}",
             f"pytest_add_cli_args_test_selection = {_toml_list(tests)}",
             # copied beside the tests (mutmut copies tests/ itself); not part of mutmut's hash of the config
             'also_copy = ["docs"]',
             'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly"]',
             # TensorFlow's thread pools do not survive a fork once ops have run: each mutant runs in
             # a child of a fork server that has only imported the heavy libraries (2 s, not 20)
             'process_isolation = "forkserver"', 'forkserver_warmup = "import"',
             'preload_modules_file = "preload.txt"',
             # a mutant that hangs (an endless read loop) is stopped after 2 x (its tests' time + 60 s)
             "timeout_multiplier = 2.0", "timeout_constant = 60.0", "use_git_change_detection = false",
             "", "[tool.pytest.ini_options]"]
    lines += [f"{key} = {_toml_list(value) if isinstance(value, list) else json.dumps(value)}"
              for key, value in pytest_options.items() if key != "addopts"]
    lines.append('addopts = "-ra"')  # without the project's `--dist loadscope`: mutmut runs tests in-process
    return "\n".join(lines) + "\n"


def prepare(name, mutated, tests):
    """`.mutants/<name>/` with links to the project and this group's config; its path."""
    folder = WORK / name
    folder.mkdir(parents=True, exist_ok=True)
    for entry in LINKED:
        link = folder / entry
        if not link.is_symlink():
            link.symlink_to(ROOT / entry)
    shared = folder / "shared"  # the tests, run in <folder>/mutants, reach the shared data as ../shared/data
    if not shared.is_symlink() and (ROOT.parent / "shared").exists():
        shared.symlink_to(ROOT.parent / "shared")
    (folder / "pyproject.toml").write_text(config_text(mutated, tests))
    (folder / "preload.txt").write_text("\n".join(PRELOAD) + "\n")
    return folder


def _environment():
    """os.environ with mutation/fastest_first.py as a pytest plugin: each mutant's tests fastest
    first (the same tests, so the same verdicts; not in the group's config, whose pytest
    arguments mutmut hashes and would reset the results for)."""
    paths = [str(ROOT / "mutation"), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTEST_PLUGINS": "fastest_first"}


def _mutmut(folder, *args, timeout=None):
    command = [str(pathlib.Path(sys.executable).with_name("mutmut")), *args]
    process = subprocess.Popen(command, cwd=folder, start_new_session=True, text=True, env=_environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the fork server and its children too
        output, _ = process.communicate()
        return None, output
    return process.returncode, output


def statuses(folder, patterns):
    """[(mutant name, mutmut's status)] of the group's functions, from mutmut's own results."""
    import fnmatch

    _, output = _mutmut(folder, "results", "--all", "true")
    found = []
    for line in output.splitlines():  # "    pipelines.extensions.attacks.x_project__mutmut_3: survived"
        if "__mutmut_" not in line or ": " not in line:
            continue
        mutant, status = (part.strip() for part in line.rsplit(": ", 1))
        if not patterns or any(fnmatch.fnmatchcase(mutant, p) for p in patterns):
            found.append((mutant, status))
    return found


def summary(folder, patterns):
    """(counts by status, survivor names) for the group's functions."""
    counts, survivors = {}, []
    for mutant, status in statuses(folder, patterns):
        counts[status] = counts.get(status, 0) + 1
        if status in ("survived", "no tests"):  # no test reaches it: a survivor too
            survivors.append(f"{mutant} ({status})")
    return counts, survivors


def run(name, mutated, tests, functions, minutes, retest=False, report=False):
    """One group: mutmut run (continuing earlier results; `retest`: only the survivors, again;
    `report`: no run, the results so far)."""
    folder = prepare(name, mutated, tests)
    patterns = mutant_patterns(mutated, functions)
    chosen = patterns
    if report:
        code, output = 0, ""
    elif retest:
        chosen = [survivor.split(" ")[0] for survivor in summary(folder, patterns)[1]]
        if not chosen:
            print(f"{name}: no survivors to retest")
            return {}
    elif patterns and (folder / "mutants").is_dir():
        # mutmut reruns every mutant it is given by name: give it only those not yet checked
        chosen = [mutant for mutant, status in statuses(folder, patterns) if status == "not checked"]
        report, code = not chosen, 0  # every mutant checked: the results as they are
    if not report:
        code, output = _mutmut(folder, "run", "--max-children", "1", *chosen, timeout=minutes * 60)
        (folder / "last-run.log").write_text(output)
    counts, survivors = summary(folder, patterns)
    done = sum(counts.values()) - counts.get("not checked", 0) - counts.get("skipped", 0)
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    score = f"{100 * killed / done:.0f}% killed ({done - killed} survivors of {done})" if done else "nothing checked"
    state = "stopped at the time limit" if code is None else "results so far" if report else f"mutmut exit {code}"
    print(f"{name}: {score}; {json.dumps(counts, sort_keys=True)} ({state}; log {folder / 'last-run.log'})")
    for survivor in survivors:
        print(f"  survived: {survivor}")
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="groups of mutation/modules.txt (default: all)")
    parser.add_argument("--minutes", type=float, default=30.0, help="time limit per group (default 30)")
    parser.add_argument("--retest", action="store_true", help="run the survivors again (after adding tests)")
    parser.add_argument("--report", action="store_true", help="print the results so far, run nothing")
    arguments = parser.parse_args(argv)
    groups = read_table()
    unknown = [n for n in arguments.names if n not in groups]
    if unknown:
        parser.error(f"unknown group {', '.join(unknown)} (known: {', '.join(groups)}; see {TABLE.relative_to(ROOT)})")
    for name in arguments.names or groups:
        if arguments.report and not (WORK / name / "mutants").is_dir():
            print(f"{name}: not run yet")
            continue
        run(name, *groups[name], arguments.minutes, arguments.retest, arguments.report)


if __name__ == "__main__":
    main()
