"""The run harness: running, checkpoints, results, plotting, reference scores, datasets."""
