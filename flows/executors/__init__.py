"""Worker processes and clusters that run transform batches."""
