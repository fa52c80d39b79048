"""Manual control (issue 21): what an operator does by hand, under the operator lease, journaled."""
