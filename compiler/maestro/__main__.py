from maestro.cli import run

run()
