"""The escalation service: police dispatch, custody of the sealed kit, the prosecutor's decision."""
