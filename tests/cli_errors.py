"""The CLI's contract for user errors, for tests in any folder: exit status 2, one line (after
the progress lines of the steps that ran before it)."""
import re

from click.testing import CliRunner

import cli


def one_line_error(args):
    """The single output line of `cnn ARGS`, after checking it is a user error."""
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    while len(lines) > 1 and lines[0].endswith(" ...") and not lines[0].startswith("Error"):
        lines = lines[1:]  # `cnn train` names each long step as it starts (stderr); the error is the last line
    assert len(lines) == 1 and "Traceback" not in result.output
    assert not re.match(r"Error: \w+(Error|Exception): ", lines[0]), lines[0]  # no Python class names
    return lines[0]
