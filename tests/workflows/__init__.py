"""End-to-end tests of each shipped playbook."""
