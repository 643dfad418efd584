"""An example icrl plug-in: a new environment (:mod:`icrl_example.corridor`) and a new method
(:mod:`icrl_example.smooth_dpt`), registered with their presets by :mod:`icrl_example.plugin`."""
