"""``pyros previews``: serve the image previews of the latest frames (``pyros up`` runs it)."""

from __future__ import annotations

import logging
import signal
import threading

import typer

from app.cli.errors import CliError
from app.cli.groups import command_group

# The server and the configuration are imported inside the command: every command module is
# imported by `pyros --help`.

app = command_group("Image previews of the latest frames (PNG over HTTP, loopback by default).")


@app.command()
def serve() -> None:
    """Serve ``$PYROS_HOME/previews`` on ``[controlroom] previews_host:previews_port`` until
    Ctrl-C or SIGTERM."""
    from infra.config import get_config
    from infra.settings import load_settings
    from tasks.controlroom.preview_server import PreviewServer, RemoteBindRefused

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = get_config()
    room = config.controlroom
    directory = load_settings().home / "previews"
    try:
        server = PreviewServer(
            directory,
            room.previews_host,
            room.previews_port,
            security=config.security,
            keep=room.previews_keep,
        )
    except (RemoteBindRefused, OSError) as exc:
        raise CliError(f"previews server: {exc}") from None
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    typer.echo(f"previews of {directory} on {server.url}")
    stop.wait()
    server.stop()
