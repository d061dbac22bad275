"""The agent supervisor: a planner over specialist agents, and a validator."""
