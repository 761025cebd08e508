"""irflow's Lambda tasks: one module per task (see registry.py); shipped to Lambda, never importing irflow/."""
