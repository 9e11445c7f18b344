"""The backbone-comparison suite: datasets × backbones × seeds trained through `training`,
evaluated through `scoring`, aggregated (with rliable) into tables and plots.

benchmark.py is the command line over this package."""
