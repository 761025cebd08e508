"""Conformance of irflow's ASL engine against Step Functions executions recorded on AWS."""
