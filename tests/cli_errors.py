"""The CLI's contract for user errors, for tests in any folder: exit status 2, one line."""
from click.testing import CliRunner

import cli


def one_line_error(args):
    """The single output line of `cnn ARGS`, after checking it is a user error."""
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    return lines[0]
