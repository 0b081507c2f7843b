"""One module per `wsready` sub-command."""
