"""Meta-learning of base networks: task samplers, the MAML loop, L0 gates, pruning (never imported at run time)."""
