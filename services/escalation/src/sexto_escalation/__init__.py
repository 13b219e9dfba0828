"""The escalation service: Police dispatch, chain of custody of the sealed kit, and the prosecutor's decision."""
