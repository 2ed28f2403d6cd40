"""What an implementation implements, one contract per kind of workload."""
