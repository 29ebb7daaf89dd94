"""Commissioning commands (`heatkeeper scan|probe|stroke-test|pump-test`) and their test rigs."""
