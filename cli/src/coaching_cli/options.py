"""The global options: where the platform is (Kafka, the topic namespace, the services, the
PostgreSQL server) and an environment file that says it all at once.

Each is declared once, on the app's callback, and accepted before the subcommand and after
it alike: `coachctl --bootstrap X topics describe` and `coachctl topics describe --bootstrap
X`. `EverywhereGroup` gives every command a copy of them (in a panel of its own in `--help`),
and both only note what was typed; the configuration is resolved when a command first asks
for it (`of`), so that `--help` and option parsing import none of the platform's code.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup, TyperOption

if TYPE_CHECKING:
    from coaching_cli.config import Config

# The environment variable of each global option: the services' own names where they have
# one, so a service's environment (or the dev stack's `env`) also configures coachctl.
ENVIRONMENT = {
    "env_file": "COACHCTL_ENV_FILE",
    "bootstrap": "KAFKA_BOOTSTRAP_SERVERS",
    "prefix": "COACHING_TOPIC_PREFIX",
    "users_url": "COACHCTL_USERS_URL",
    "slots_url": "COACHCTL_SLOTS_URL",
    "bookings_url": "COACHCTL_BOOKINGS_URL",
    "stats_url": "COACHCTL_STATS_URL",
    "database_url": "DATABASE_URL",
    "stats_database_url": "STATS_DATABASE_URL",
}
_TYPED = "coachctl.typed"
PANEL = "Global options (also accepted before the command)"


def typer_app(**settings: Any) -> typer.Typer:
    """A command group with plain-text help. Typer's rich help imports rich's Markdown,
    markdown-it and Pygments (about 0.2 s, half of `coachctl --help`) however little markup
    the help has; click's plain formatter needs none of it."""
    return typer.Typer(rich_markup_mode=None, **settings)


def remember(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
    """Note a global option given on the command line; after the subcommand overrides before,
    because the command's own options are parsed last."""
    if value is not None and param.name is not None:
        ctx.meta.setdefault(_TYPED, {})[param.name] = value
    return value


def global_option(name: str, *, help: str, show_default: bool | str = False, **more: Any) -> Any:
    """A global option: no default of its own (None means "not typed") and no envvar for the
    parser to read, so that `of` can rank the command line, the env file and the environment."""
    return typer.Option(
        f"--{name.replace('_', '-')}",
        help=f"{help} (env {ENVIRONMENT[name]})",
        callback=remember,
        show_default=show_default,
        **more,
    )


def typed(ctx: typer.Context) -> dict[str, Any]:
    """The global options given on this command line, by parameter name."""
    return dict(ctx.meta.get(_TYPED, {}))


def of(ctx: typer.Context) -> Config:
    """This run's configuration, resolved once, when a command first asks for it."""
    from coaching_cli.config import Config, resolve

    root = ctx.find_root()
    if not isinstance(root.obj, Config):
        root.obj = resolve(typed(ctx))
    return root.obj


class EverywhereGroup(TyperGroup):
    """The root group: every command below it also takes the root's global options, all of
    the callback's but the eager `--version`, which acts at once where it is given. (`--help`
    and shell completion, which typer adds later, are not among them.)"""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        shared = [p for p in self.params if isinstance(p, TyperOption) and not p.is_eager]
        for command in _leaves(self):
            command.params.extend(_repeated(option) for option in shared)

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        for param in params:
            if type(param) is TyperOption:
                param.__class__ = _NoneAsIs  # in place: click tells params apart by identity
        return params


class _NoneAsIs(TyperOption):
    """A root option that was not given (None) is not converted. Typer would build a pydantic
    converter for it anyway, and importing pydantic is most of what `coachctl <group> --help`
    costs, which processes every root option before the group's `--help`."""

    def process_value(self, ctx: Any, value: Any) -> Any:
        if value is None and not self.required:
            return None if self.callback is None else self.callback(ctx, self, None)
        return super().process_value(ctx, value)


def _leaves(group: TyperGroup) -> list[Any]:
    found: list[Any] = []
    for command in group.commands.values():
        found.extend(_leaves(command) if isinstance(command, TyperGroup) else [command])
    return found


def _repeated(option: TyperOption) -> TyperOption:
    repeated = copy.copy(option)
    # The command's function does not take it: the callback (remember) is its only reader.
    repeated.expose_value = False
    repeated.rich_help_panel = PANEL
    # Plain help has no panels: the option's own text says it is a global one.
    repeated.help = f"{option.help} [global: also before the command]"
    return repeated
