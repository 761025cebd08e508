"""Tests of the Lambda tasks and the ec2-compromise playbook against the embedded AWS."""
