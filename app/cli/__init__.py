"""The ``pyros`` command line. Heavy modules are imported inside commands so that every command
that does not need the stack answers in well under two seconds."""
