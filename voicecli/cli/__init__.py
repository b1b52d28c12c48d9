"""The command line (Typer): parse options into one ``Settings``, call into the app, map errors to one line.

    app.py           the Typer app, --version/--debug, main(): errors and signals → one line and a status
    options.py       every option of ``config.Settings`` as a Typer flag, declared once
    conversation.py  chat, say, talk, transcribe
    setup.py         models, devices, doctor, tools
    bench.py         bench
"""

from voicecli.cli import bench, conversation, setup  # noqa: F401  (each registers its commands on the app)
from voicecli.cli.app import app, main

__all__ = ["app", "main"]
