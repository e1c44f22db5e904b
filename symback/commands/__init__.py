"""Subcommands of the symback CLI, one module each; each registers itself with `cli.command`."""
