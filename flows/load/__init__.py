"""The load side: the warehouse, the merge of a run's staged parts, resume, known inputs."""
