"""heatkeeper.tools: plant model, device simulators, benchmarks, demo and commissioning commands."""
