"""Replay of a recorded night from its journal on the discrete-event clock (DESIGN §9)."""
