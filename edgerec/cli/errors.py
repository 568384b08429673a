"""User mistakes end with exit code 2 and one line naming the thing, never a traceback."""

import click


class UserError(click.ClickException):
    exit_code = 2
