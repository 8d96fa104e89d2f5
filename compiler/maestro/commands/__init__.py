"""One module per verb: `run(args) -> int`; cli.py only parses arguments."""
