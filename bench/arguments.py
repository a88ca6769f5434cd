"""`--NAME=VALUE` options of the bench modules (`python -m bench NAME --key=value ...`)."""


def option(argv, name, default):
    """The value of `--NAME=VALUE` in argv, of the default's type (a string when the default is
    None); the default when it is not given."""
    for arg in argv:
        if arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
            return value if default is None else type(default)(value)
    return default
