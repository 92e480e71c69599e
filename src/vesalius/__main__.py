from vesalius.cli.main import app

app()
