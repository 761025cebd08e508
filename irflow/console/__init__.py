"""`irflow console`: a web console over the local runtime (or a deployment) for people following an incident.

`source` reads executions, incidents and approvals through the Step Functions API (the local
engine, or boto3) and the incidents table; `views` renders them as HTML; `graphs` draws a
playbook's state graph with each state's status; `templates` offers findings to start a playbook
by hand; `server` is the HTTP front (Host, sign-in, CSRF, polling); `pages` answers it the same in
both modes; `app` wires it to the local runtime and its approval server, `deployed` to a
deployment read with boto3; `cli` parses `irflow console`.
"""
