"""The control room (issue #21): what the operator sees beside the flow runs — image previews
and the Prefect artifacts kept current, under stable keys, without unbounded growth."""
