"""Bad input gets a clear error naming the field and the allowed values."""
import numpy as np
import pytest

from pdlf_brian.engine import make_network
from pdlf_brian.errors import ConfigError, DeviceError
from pdlf_brian.layout import GenomeLayout, NetworkShape
from pdlf_brian.models import PDLF_RULE, TERNARY_LIF
from pdlf_brian.neuron import NeuronModel
from pdlf_brian.network import PopulationNetwork
from pdlf_brian.rule import resolve_synapse
from pdlf_brian.rule import PlasticityRule, only


def test_malformed_rule_equation():
    with pytest.raises(ConfigError, match="field 'parameters': malformed Brian2 equations"):
        PlasticityRule("bad", parameters="eta : : 1 (constant)", rate="eta", terms={"d": "eta"})


def test_malformed_term_expression():
    with pytest.raises(ConfigError, match=r"term 'SCP': malformed expression 'A\*x\*\*'"):
        PlasticityRule("bad", parameters="eta : 1\nA : 1", rate="eta", terms={"SCP": "A*x**"})


def test_term_with_undeclared_parameter_names_the_allowed_names():
    with pytest.raises(ConfigError, match=r"unknown name\(s\) \['E'\].*allowed names are \['A', 'eta', 'w', 'x', 'y'\]"):
        PlasticityRule("bad", parameters="eta : 1\nA : 1", rate="eta", terms={"SCP": "A*x*y", "decay": "-E*w"})


def test_unknown_ablation_lists_allowed_values():
    with pytest.raises(ConfigError, match=r"unknown ablation 'no-XYZ'; allowed values are \['full', 'no-SCP'"):
        PDLF_RULE.resolve("no-XYZ")


def test_ablation_naming_an_unknown_term():
    with pytest.raises(ConfigError, match=r"unknown term\(s\) \['LTP'\]"):
        PlasticityRule("bad", parameters="eta : 1\nA : 1", rate="eta", terms={"SCP": "A*x*y"},
                       ablations={"x": only("LTP")})


def test_rate_must_be_declared():
    with pytest.raises(ConfigError, match="field 'rate': 'lr' is not a declared parameter"):
        PlasticityRule("bad", parameters="eta : 1", rate="lr", terms={"d": "eta"})


def test_ablation_drops_the_parameters_of_removed_terms():
    assert PDLF_RULE.resolve("PDP-only").parameters == ("eta", "B", "D")
    assert PDLF_RULE.resolve("no-PDP").parameters == ("eta", "A", "C", "D")


def test_neuron_model_errors():
    with pytest.raises(ConfigError, match=r"must declare the variables \['s', 'h'\]; missing \['h'\]"):
        NeuronModel("n", equations="v : 1\ns : 1", update="v = I")
    with pytest.raises(ConfigError, match=r"unknown name\(s\) \['vth'\]"):
        NeuronModel("n", equations="v : 1\ns : 1\nh : 1", update="s = int(v > vth)")


def test_genome_shape_error_names_the_expected_shape():
    layout = GenomeLayout(NetworkShape(3, 4, 1), PDLF_RULE.resolve("full"))
    with pytest.raises(ConfigError, match=r"genomes: expected shape \(2, 80\)"):
        layout.check(np.zeros((2, 79)), 2)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_genome_is_rejected_with_its_location(bad):
    layout = GenomeLayout(NetworkShape(3, 4, 1), PDLF_RULE.resolve("full"))
    genomes = np.zeros((2, layout.size))
    genomes[1, 13] = bad
    with pytest.raises(ConfigError, match=r"individual 1, genome index 13 \(projection 'in', variable 'A', synapse 0->1\)"):
        layout.check(genomes, 2)


PLASTIC = PDLF_RULE.resolve("full")


def test_unknown_device_lists_allowed_values():
    with pytest.raises(ConfigError, match=r"unknown device 'gpu'; allowed values are \['numpy', 'runtime', 'cpp_standalone', 'cuda_standalone'\]"):
        make_network(NetworkShape(3, 4, 1), PLASTIC, n_individuals=2, device="gpu")


def test_unknown_learner_rule_ablation_and_record():
    with pytest.raises(ConfigError, match=r"unknown learner 'hebb'; allowed values are \['plastic', 'weights'\]"):
        resolve_synapse("hebb")
    with pytest.raises(ConfigError, match=r"unknown rule 'stdp'; registered rules are \[.*'pdlf'"):
        resolve_synapse("plastic", "stdp")
    with pytest.raises(ConfigError, match=r"unknown ablation 'no-C'; allowed values are \['full', 'no-SCP'"):
        resolve_synapse("plastic", "pdlf", "no-C")
    with pytest.raises(ConfigError, match=r"the rule 'pdlf' has no ablation applied"):
        make_network(NetworkShape(3, 4, 1), PDLF_RULE, n_individuals=2, device="numpy")
    for device in ("numpy", "runtime"):
        with pytest.raises(ConfigError, match=r"record: unknown variable\(s\) \['rates'\]"):
            make_network(NetworkShape(3, 4, 1), PLASTIC, n_individuals=2, device=device, record=("rates",))


def test_standalone_needs_n_steps():
    with pytest.raises(ConfigError, match="n_steps: device 'cpp_standalone' compiles the episode length"):
        PopulationNetwork(NetworkShape(3, 4, 1), 2, synapse=PLASTIC, device="cpp_standalone")


def test_bad_interventions():
    from pdlf_brian.interventions import StateReset, from_dict

    with pytest.raises(ConfigError, match=r"StateReset field 'steps': steps must be >= 1, got \[0\]"):
        StateReset((0,))
    with pytest.raises(ConfigError, match=r"step 12 is beyond the episode \(10 steps"):
        make_network(NetworkShape(3, 4, 1), PLASTIC, n_individuals=1, device="numpy", n_steps=10,
                     interventions=(StateReset((12,)),))
    with pytest.raises(ConfigError, match=r"unknown kind 'lobotomy'; allowed values are \['state_reset'"):
        from_dict({"kind": "lobotomy"})
    assert from_dict({"kind": "state_reset", "steps": [3, 1]}) == StateReset((1, 3))


def test_bad_shape():
    with pytest.raises(ConfigError, match="NetworkShape field 'n_hidden': expected a positive integer"):
        NetworkShape(3, 0, 1)


@pytest.mark.parametrize("device", [pytest.param("runtime", marks=pytest.mark.runtime), "numpy"])
def test_run_rejects_bad_inputs_and_genomes(device):
    net = make_network(NetworkShape(2, 3, 1), PLASTIC, n_individuals=2, device=device)
    good = np.zeros((2, net.genome_size))
    with pytest.raises(ConfigError, match=r"inputs: expected shape \(5, 2, 1, 2\)"):
        net.run(good, np.zeros((5, 2, 3)))
    with pytest.raises(ConfigError, match="genomes: expected shape"):
        net.run(np.zeros((3, net.genome_size)), np.zeros((5, 2, 1, 2)))
    with pytest.raises(ConfigError, match="inputs: all values must be finite"):
        net.run(good, np.full((5, 2, 1, 2), np.nan))
    with pytest.raises(ConfigError, match="exactly one of 'inputs'"):
        net.run(good)


@pytest.mark.parametrize("device", [pytest.param("runtime", marks=pytest.mark.runtime), "numpy"])
def test_closed_loop_matches_open_loop(device, rng):
    """A controller that replays fixed inputs gives the open-loop result exactly."""
    net = make_network(NetworkShape(2, 5, 1), PLASTIC, n_individuals=2, device=device, record=("output", "spikes"))
    genomes = rng.normal(0, 0.5, (2, net.genome_size))
    inputs = rng.normal(0, 1, (30, 2, 1, 2))
    seen = []

    def controller(step, output):
        seen.append(output.copy())
        return inputs[step]

    closed = net.run(genomes, controller=controller, n_steps=30)
    opened = net.run(genomes, inputs)
    np.testing.assert_array_equal(closed.output, opened.output)
    # the controller sees the readout of the previous step
    np.testing.assert_array_equal(np.array(seen[1:]), opened.output[:-1])


def test_closed_loop_on_standalone_is_refused():
    from pdlf_brian.devices import check_closed_loop

    with pytest.raises(DeviceError, match="cannot run Python code during a simulation"):
        check_closed_loop("cpp_standalone")


def test_neuron_parameters_come_from_the_model():
    assert TERNARY_LIF.parameters["theta"] == 0.1


def test_reserved_parameter_name():
    with pytest.raises(ConfigError, match=r"\['delay'\] are reserved names"):
        PlasticityRule("bad", parameters="eta : 1\ndelay : 1", rate="eta", terms={"d": "delay*x"})
