from tests.console.conftest import ops_run  # noqa: F401  (the scripted run, shared with the console tests)
