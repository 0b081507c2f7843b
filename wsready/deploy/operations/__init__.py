"""wsready's own pyinfra operations, one module per concern (see wsready/deploy/)."""
