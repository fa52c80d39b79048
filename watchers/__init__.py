"""The watchers: long-running supervised processes that act below the orchestrator (DESIGN §2,
§6): the environment monitor and its safety reflex. What they decide is pure and lives in
``tasks/``; here are the loops, the sockets, the write-behind and the artifacts."""
