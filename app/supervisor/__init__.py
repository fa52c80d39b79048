"""The supervisor behind ``pyros up`` (the original "super-agent"): it starts the stack's processes
in order, waits until each is ready, restarts the ones that die (within seconds), and answers a
small control protocol (status, restart, stop) on a loopback port."""
