"""`--NAME=VALUE` options of the bench modules (`python -m bench NAME --key=value ...`)."""
import sys


def option(argv, name, default):
    """The value of `--NAME=VALUE` in argv, of the default's type (a string when the default is
    None); the default when it is not given. A value of the wrong type ends the run in one line."""
    for arg in argv:
        if arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
            if default is None:
                return value
            try:
                return type(default)(value)
            except ValueError:
                sys.exit(f"--{name}={value}: expected {type(default).__name__} (as the default {default!r}).")
    return default
