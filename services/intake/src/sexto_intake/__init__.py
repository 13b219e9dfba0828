"""The intake service: Partner systems report incidents and the facts of a case over REST."""
