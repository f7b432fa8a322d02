"""Tasks: intake, the lifecycle of states, leases on jobs, processing, finalize, queries."""
