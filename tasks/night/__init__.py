"""The night: what to do next (the pure night policy), and the work the night flows compose."""
