"""Interpretability: saliency and neuron dynamics of driving policies.

- :mod:`lnn_drive.explain.saliency`: ``visual_backprop`` (VisualBackProp, one forward pass),
  ``input_gradient``, ``SaliencyError``;
- :mod:`lnn_drive.explain.ssim`: ``ssim`` of saliency maps (Gaussian window);
- :mod:`lnn_drive.explain.attention`: share of saliency on road, horizon band, objects;
- :mod:`lnn_drive.explain.recording`: closed-loop recordings (through ``record_episodes``);
- :mod:`lnn_drive.explain.dynamics`: neuron traces, wiring diagram,
  PCA, decision-tree rules;
- :mod:`lnn_drive.explain.plots`: overlays, model x frame grids, SSIM/attention charts;
- :mod:`lnn_drive.explain.video`: ``saliency_video`` (MP4 of a closed-loop run);
- :mod:`lnn_drive.explain.pipeline`: ``explain_policies``, what ``lnn-drive saliency`` runs;
- :mod:`lnn_drive.explain.seeds`: ``explain_over_seeds`` (what ``lnn-drive saliency-seeds``
  runs): joint and per-map SSIM, region shares with intervals over seeds, the
  untrained-encoder control, h-only PCA, decision tree vs linear readout.

Submodules are imported on use, so importing this package stays cheap.
"""
