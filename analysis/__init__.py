"""Figures and statistics from run directories and recordings (importable as ``pdlf_brian.analysis``).

Each module has one job; every figure function returns ``(fig, numbers)`` where ``numbers`` is a
JSON-ready dict of the values drawn, and saving is left to the caller (`figures.save_figure`):

* `curves`: training curves with spread over seeds, against generations and env steps;
* `activity`: spike rasters, firing rates and traces per task phase;
* `weights`: weight matrices after different stimuli and differences from a reference;
* `embedding`: t-SNE of hidden states by task and a linear-readout separability score;
* `rule_params`: evolved rule parameters of chosen synapses across generations (genome snapshots);
* `plasticity_window`: weight change against the pre/post interval, by simulated pairings;
* `lesions`: permanent- and temporary-lesion curves, ablation curves;
* `working_memory`: the working-memory grid figures;
* `stages`, `steering_stages`, `plateau`: a campaign continued in stages: its stage table and stopping
  rule, the steering turns per stage, saturating fits to its curve;
* `campaign_status`: a staged campaign's stage-dependent numbers in words, for its READMEs' status blocks.

No module selects a matplotlib backend; pyplot is imported only when a figure is drawn.
"""
