"""The transparency log over the CASES stream: Merkle tree, signed checkpoints, witness."""
