"""The playbook authors' toolkit: `irflow lint`, `irflow test` (with coverage), `irflow graph`, `irflow new`.

Everything here reads playbook definitions as plain ASL JSON (placeholders such as
`${IsolateInstanceFunctionArn}` only inside string values) and never changes them.
"""
