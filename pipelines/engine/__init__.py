"""The training engine: prepare a run, fit (Keras fit, or the multiworker loop), distribution
strategies, atomic checkpoints and resume, the test metrics."""
