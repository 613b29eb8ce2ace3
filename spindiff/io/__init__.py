"""Results folders, progress reporting and plots (rank 0 writes files; fields are collective)."""
