"""The ``vesalius`` command line (typer): thin commands over the services."""
