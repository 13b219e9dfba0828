"""`make chaos`: the cluster stack under load while its processes are killed, then checked."""
