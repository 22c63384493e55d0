"""The coachctl entry point (commands are added by the modules beside it)."""

import typer

app = typer.Typer(help="Drive and inspect the coaching platform.", no_args_is_help=True)
