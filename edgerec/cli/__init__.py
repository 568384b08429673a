"""The `edgerec` command. Verbs hold no logic: they parse flags and call the engine.

Only Click is imported here; each verb imports what it needs when it runs, so
`edgerec bench` works on a device that has no TensorFlow. A user mistake the engine raises (an
EdgerecError) becomes exit 2 and one "Error:" line in the group (see errors.Group).
"""

import click

from edgerec.cli.bench import bench
from edgerec.cli.build import build
from edgerec.cli.compress import compress
from edgerec.cli.data import data
from edgerec.cli.distill import distill
from edgerec.cli.errors import Group
from edgerec.cli.export import export_command
from edgerec.cli.inspect import inspect_command
from edgerec.cli.report import report
from edgerec.cli.teacher import teacher


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgerec")
@click.option("-v", "--verbose", is_flag=True,
              help="Also show TensorFlow's and TFLite's native log lines (held back by default).")
def main(verbose: bool) -> None:
    """Distil, compress and convert recommenders to TFLite; benchmark them on the device."""


main.add_command(build)
main.add_command(bench)
main.add_command(compress)
main.add_command(data)
main.add_command(distill)
main.add_command(export_command)
main.add_command(inspect_command)
main.add_command(report)
main.add_command(teacher)
