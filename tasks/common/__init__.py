"""Code shared by the tasks: AWS sessions, models, the incident record, evidence, approvals, Lambda glue."""
