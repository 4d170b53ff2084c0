"""Recipes, labels and credits: how every file tunesmith writes was made."""

from tunesmith.provenance.recipe import read_recipe, recipe_path, sha256_file, write_recipe

__all__ = ["read_recipe", "recipe_path", "sha256_file", "write_recipe"]
