"""Example engines built on vigil_worker (see docs/protocol.md, "Writing a worker")."""
