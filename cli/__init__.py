"""The contactopt command line (Typer): a thin layer over `optimizer`."""
