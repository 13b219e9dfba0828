"""The evaluation service: The incident evaluation grid per student, under versioned protocols."""
