"""The atlas: job store, workers, presets, export and the ``atlas`` command line."""
