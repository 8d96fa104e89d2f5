"""One module per verb, each with `command(args) -> int`; cli.py only parses arguments and dispatches."""
