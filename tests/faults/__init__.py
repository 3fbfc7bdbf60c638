"""Helpers of the fault-injection tests (tests/test_faults_*.py): deterministic workloads, their
models, and a forking child process that runs writers, readers and risky reads."""
