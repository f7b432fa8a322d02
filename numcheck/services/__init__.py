"""What the API and the CLI both do, written once: each operation with its audit entry, in the
caller's transaction. Routes and commands parse input, call these, and shape the output."""
