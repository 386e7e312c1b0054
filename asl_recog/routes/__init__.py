"""How a search runs: the Trainer contract and its two routes, AutoML and HyperDrive."""
