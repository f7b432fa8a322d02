"""Task and chunk lifecycle: intake, processing, finalize, scheduling, queries."""
