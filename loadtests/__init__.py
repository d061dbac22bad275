"""Load tests of the running graph: Locust users, their workload and a headless runner."""
