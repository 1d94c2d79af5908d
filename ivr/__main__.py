"""``python -m ivr`` runs the ``ivr`` command."""

from ivr.cli import main

main(prog_name="ivr")
