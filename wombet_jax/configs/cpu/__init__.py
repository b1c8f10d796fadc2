"""CPU-scale configs for the locomotion pairs (2 cores, 5 seeds, WOMBET and SAC each within
about 40 minutes)."""
