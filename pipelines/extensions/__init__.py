"""What a run may add to plain training: adversarial training (with its attack primitives and
catastrophic-overfitting guard), transfer learning, weight averaging (EMA) and ensembles."""
