"""Use cases the CLI and the GUI call: session, tasks, search, verify, reports, model comparison."""
