"""Facts read by wsready's operations (wsready/deploy/operations/)."""
