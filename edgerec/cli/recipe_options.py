"""The options every recipe-reading verb shares: which recipe, and one-off overrides of its keys."""

from __future__ import annotations

from typing import Callable

import click


def recipe_options(func: Callable) -> Callable:
    """`--recipe NAME|PATH` and repeatable `--set KEY=VALUE` (see edgerec.recipe.load)."""
    func = click.option(
        "--set", "overrides", multiple=True, metavar="KEY=VALUE",
        help="Override one recipe key for this run, e.g. --set teacher.embedding_dim=32 or "
        "--set compress.0.finetune_epochs=2 (a YAML value; repeatable).",
    )(func)
    return click.option(
        "--recipe", "recipe_name", default="default", show_default=True,
        help="Built-in recipe name (default, smoke) or a path to a YAML recipe, which overrides the default "
        "recipe key by key (or the recipe its `extends:` names).",
    )(func)
