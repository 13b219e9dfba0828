"""The `sexto` command line for legal reviewers, analysts and administrators."""
