"""pdlf-brian: evolve the plasticity rules of spiking networks on Brian2."""
