"""The `cnn` command. TensorFlow is imported inside the commands that need it, so that
`cnn --help` and `cnn --version` answer at once."""
import functools
import os
import sys
from importlib.metadata import PackageNotFoundError, version

import click

try:
    __version__ = version("cnn-suite")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

# Errors a user can cause (bad file, bad argument): one line, no traceback, exit 2.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


def user_errors(command):
    """Turn user errors into a one-line message; CNN_DEBUG=1 shows the traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as error:
            if os.environ.get("CNN_DEBUG"):
                raise
            raise click.ClickException(f"{type(error).__name__}: {error}") from None

    return wrapper


def quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cnn")
def main():
    """cnn-suite: convolutional-network pipelines on hand-written, gradient-checked layers."""


@main.command()
@click.argument("layer_names", nargs=-1, metavar="[LAYER]...")
@click.option("--quick", is_flag=True, help="Check only the first two configurations of each layer.")
@click.option(
    "--module", "modules", multiple=True, type=click.Path(exists=True, dir_okay=False),
    help="A Python file that registers more layers (layers.register); repeatable.",
)
@click.option("--list", "list_only", is_flag=True, help="List the registered layers and exit.")
@user_errors
def gradcheck(layer_names, quick, modules, list_only):
    """Check forward, gradients and finite differences of registered layers.

    Compares each layer with its TensorFlow/Keras counterpart (same weights) and its
    hand-written backward with finite differences in float64; exits 1 if any error
    exceeds its tolerance.
    """
    quiet_tensorflow()
    import runpy

    from layers import gradcheck as checker
    from layers import registry

    for path in modules:
        runpy.run_path(path, run_name="cnn_user_layers")
    if list_only:
        for entry in registry.entries():
            click.echo(f"{entry.name:<28} {len(entry.cases)} cases  reference: {'yes' if entry.reference else 'no'}")
        return
    for name in layer_names:
        registry.get(name)  # unknown names fail before any work
    click.echo(checker.header())
    failed = 0
    for result in checker.run(list(layer_names) or None, quick=quick):
        click.echo(checker.format_row(result))
        failed += not result.ok
    click.echo(f"{failed} failing case(s)." if failed else "All cases within tolerance.")
    sys.exit(1 if failed else 0)
